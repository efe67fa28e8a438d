import EtcdProto
import Raft
import Testing

private func context(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite("ReadIndex (§6.4)")
struct ReadIndexTests {
  @Test("§6.4 a single-voter leader answers a read at once with its commit index")
  func singleVoterAnswersAtOnce() throws {
    let cluster = TestCluster(members: [1])
    cluster.elect(1)
    try cluster.propose(1, "x")
    cluster.settle()
    try cluster[1].readIndex(context: context("r"))
    cluster.process(1)
    #expect(cluster.readStates[1]!.map(\.requestContext) == [context("r")])
    #expect(cluster.readStates[1]!.map(\.index) == [cluster[1].committedIndex])
  }

  @Test(
    "§6.4 a read is answered only once a quorum of voters acknowledges a heartbeat after it",
    arguments: [
      ([1, 2, 3], [], false), ([1, 2, 3], [2], true), ([1, 2, 3], [2, 3], true),
      ([1, 2, 3, 4, 5], [2], false), ([1, 2, 3, 4, 5], [2, 5], true),
    ] as [([UInt64], [UInt64], Bool)])
  func readNeedsHeartbeatQuorum(members: [UInt64], acking: [UInt64], answered: Bool) throws {
    let cluster = TestCluster(members: members)
    cluster.elect(1)
    try cluster.propose(1, "x")
    cluster.settle()
    let committed = cluster[1].committedIndex
    try cluster[1].readIndex(context: context("r"))
    cluster.process(1)
    #expect(cluster.readStates[1]!.isEmpty)
    let heartbeats = cluster.take { $0.type == .msgHeartbeat }
    #expect(heartbeats.count == members.count - 1)
    for m in heartbeats where acking.contains(m.to) { cluster.deliver(m) }
    cluster.processAll()
    cluster.deliver { $0.type == .msgHeartbeatResp }
    #expect(cluster.readStates[1]!.map(\.index) == (answered ? [committed] : []))
  }

  @Test("§6.4 a learner's heartbeat acknowledgement does not confirm leadership")
  func learnerAckDoesNotConfirm() throws {
    let cluster = TestCluster(members: [1, 2, 3], learners: [4])
    cluster.elect(1)
    try cluster[1].readIndex(context: context("r"))
    cluster.process(1)
    _ = cluster.take { $0.type == .msgHeartbeat && $0.to != 4 }
    cluster.settle()
    #expect(cluster.readStates[1]!.isEmpty)
  }

  @Test(
    "§6.4 reads that arrive together share heartbeat rounds: at most two for any number",
    arguments: [2, 10, 50])
  func readsAreBatched(reads: Int) throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    let before = cluster.sent(.msgHeartbeat).count
    for i in 0..<reads {
      try cluster[1].readIndex(context: context("r\(i)"))
    }
    cluster.settle()
    #expect(cluster.readStates[1]!.map(\.requestContext) == (0..<reads).map { context("r\($0)") })
    #expect(cluster.sent(.msgHeartbeat).count - before == 2 * 2)
  }

  @Test("§6.4 a read is retried by later heartbeats when its round is lost")
  func lostRoundRetried() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    try cluster[1].readIndex(context: context("r"))
    cluster.process(1)
    _ = cluster.take { $0.type == .msgHeartbeat }
    cluster.settle()
    #expect(cluster.readStates[1]!.isEmpty)
    cluster.tick(1)
    #expect(cluster.readStates[1]!.map(\.requestContext) == [context("r")])
  }

  @Test("§6.4 a read waits until the new leader has committed an entry of its term")
  func readWaitsForFirstCommitOfTerm() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.drop = { $0.type == .msgAppResp && $0.to == 1 }
    cluster.elect(1)
    let noop = cluster[1].lastIndex
    #expect(cluster[1].role == .leader)
    #expect(cluster[1].committedIndex < noop)
    try cluster[1].readIndex(context: context("r"))
    cluster.tick(1, 3)
    #expect(cluster.readStates[1]!.isEmpty)
    cluster.drop = { _ in false }
    cluster.tick(1, 2)
    #expect(cluster[1].committedIndex == noop)
    #expect(cluster.readStates[1]!.map(\.index) == [noop])
  }

  @Test("§6.4 a follower's read is forwarded to the leader and answered with its commit index")
  func followerReadForwarded() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    try cluster.propose(1, "x")
    cluster.settle()
    try cluster[2].readIndex(context: context("f"))
    cluster.settle()
    #expect(cluster.readStates[2]!.map(\.requestContext) == [context("f")])
    #expect(cluster.readStates[2]!.map(\.index) == [cluster[1].committedIndex])
    #expect(cluster.readStates[1]!.isEmpty)
  }

  @Test("§6.4 a read without a known leader is refused", arguments: [false, true])
  func readWithoutLeader(asCandidate: Bool) throws {
    let cluster = TestCluster(members: [1, 2, 3]) { $0.preVote = false }
    if asCandidate {
      cluster.crash(2)
      cluster.crash(3)
      cluster.elect(1)
    }
    #expect(cluster[1].role == (asCandidate ? .candidate : .follower))
    #expect(throws: RaftError.noLeader) { try cluster[1].readIndex(context: context("r")) }
  }

  @Test("§6.4 a leader cut off from a quorum never answers a read", arguments: [true, false])
  func partitionedLeaderNeverAnswers(checkQuorum: Bool) throws {
    let cluster = TestCluster(members: [1, 2, 3]) { $0.checkQuorum = checkQuorum }
    cluster.elect(1)
    cluster.isolate(1)
    try cluster[1].readIndex(context: context("r"))
    for _ in 0..<60 where cluster[2].role != .leader && cluster[3].role != .leader {
      cluster.tick(2)
      cluster.tick(3)
    }
    let newLeader: UInt64 = cluster[2].role == .leader ? 2 : 3
    try cluster.propose(newLeader, "newer")
    cluster.settle()
    cluster.tick(1, 30)
    #expect(cluster.readStates[1]!.isEmpty)
  }
}
