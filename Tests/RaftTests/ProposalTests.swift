import EtcdProto
import Raft
import Testing

@Suite("Routing proposals to the leader (§6.2)")
struct ProposalTests {
  @Test("§6.2 a proposal with no known leader is refused", arguments: [false, true])
  func noLeader(asCandidate: Bool) {
    let cluster = TestCluster(members: [1, 2, 3]) { $0.preVote = false }
    if asCandidate {
      cluster.crash(2)
      cluster.crash(3)
      cluster.elect(1)
    }
    #expect(cluster[1].role == (asCandidate ? .candidate : .follower))
    #expect(throws: RaftError.noLeader) { try cluster.propose(1, "x") }
  }

  @Test("§6.2 with forwarding disabled a follower refuses and names the leader")
  func forwardingDisabled() {
    let cluster = TestCluster(members: [1, 2, 3]) { $0.disableProposalForwarding = true }
    cluster.elect(1)
    #expect(throws: RaftError.notLeader(leader: 1)) { try cluster.propose(2, "x") }
    cluster.settle()
    #expect(cluster.sent(.msgProp).isEmpty)
  }

  @Test("§6.2 a proposal made on a follower is forwarded and commits everywhere")
  func forwardedProposalCommits() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    try cluster.propose(2, "via 2")
    try cluster.propose(3, "via 3")
    cluster.settle()
    #expect(cluster.sent(.msgProp).map(\.to) == [1, 1])
    for id: UInt64 in [1, 2, 3] {
      #expect(cluster.appliedData(id) == ["via 2", "via 3"])
    }
  }

  @Test("§6.2 a leader stamps proposals with its term and the next indexes")
  func leaderAssignsIndexes() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    let last = cluster[1].lastIndex
    try cluster.propose(1, "a")
    try cluster.propose(2, "b")
    cluster.settle()
    let tail = cluster.log(1).filter { $0.0 > last }
    #expect(tail.map(\.0) == [last + 1, last + 2])
    #expect(tail.map(\.1) == [2, 2])
  }

  @Test(
    "§6.2 a forwarded proposal the leader cannot take comes back to its proposer",
    arguments: [true, false])
  func droppedForwardIsReported(transferring: Bool) throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    if transferring {
      // Member 3 never hears of the transfer, so it stays in progress.
      cluster.isolate(3)
      try cluster.propose(1, "ahead of 3")
      cluster.settle()
      cluster[1].transferLeader(to: 3)
    } else {
      var change = confChange(.confChangeAddLearnerNode, 4)
      try cluster[1].proposeConfChange(change)
      change.nodeID = 5
      // The first change is appended but not applied before the second
      // arrives, forwarded from member 2.
      try cluster[2].proposeConfChange(change)
    }
    if transferring { try cluster.propose(2, "during transfer") }
    cluster.settle()
    let dropped = try #require(cluster.dropped[2]?.first)
    #expect(dropped.reason == (transferring ? .leaderTransferring : .confChangePending))
    if transferring {
      #expect(
        dropped.entries.map { String(decoding: $0.data, as: UTF8.self) } == ["during transfer"])
      #expect(!cluster.appliedData(1).contains("during transfer"))
    }
  }
}
