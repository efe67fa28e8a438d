import EtcdProto
import Raft
import Testing

@Suite("Check quorum (§6.2) and the leader lease on votes (§4.2.3)")
struct CheckQuorumTests {
  @Test(
    "§6.2 a leader that hears from no quorum for an election timeout steps down",
    arguments: [(true, true), (false, false)])
  func isolatedLeaderStepsDown(checkQuorum: Bool, stepsDown: Bool) {
    let cluster = TestCluster(members: [1, 2, 3]) { $0.checkQuorum = checkQuorum }
    cluster.elect(1)
    cluster.isolate(1)
    // The first check still counts the acks from before the partition.
    cluster.tick(1, 2 * 10)
    #expect(cluster[1].role == (stepsDown ? .follower : .leader))
    #expect(cluster[1].term == 2)
  }

  @Test("§6.2 a leader that hears from a quorum stays leader while a minority is down")
  func leaderWithQuorumStays() {
    let cluster = TestCluster(members: [1, 2, 3, 4, 5])
    cluster.elect(1)
    cluster.crash(4)
    cluster.crash(5)
    cluster.tickAll(100)
    #expect(cluster[1].role == .leader)
    #expect(cluster[1].term == 2)
  }

  @Test(
    "§4.2.3 a follower that heard from its leader within an election timeout ignores votes",
    arguments: [(true, true), (false, false)])
  func leaseIgnoresVotes(checkQuorum: Bool, ignored: Bool) throws {
    let cluster = TestCluster(members: [1, 2, 3]) { $0.checkQuorum = checkQuorum }
    cluster.elect(1)
    try cluster[2].step(message(.msgVote, from: 3, to: 2, term: 3, index: 4, logTerm: 2))
    cluster.process(2)
    let replies = cluster.take { $0.from == 2 }
    if ignored {
      #expect(replies.isEmpty)
      #expect(cluster[2].term == 2)
      #expect(cluster[2].leader == 1)
    } else {
      #expect(replies.map(\.reject) == [false])
      #expect(cluster[2].term == 3)
    }
  }

  @Test("§4.2.3 once an election timeout passes without the leader, votes count again")
  func leaseExpires() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    cluster.cut.insert([1, 2])
    cluster.tick(2, 10)
    try cluster[2].step(message(.msgVote, from: 3, to: 2, term: 3, index: 4, logTerm: 2))
    cluster.process(2)
    #expect(cluster.take { $0.from == 2 && $0.type == .msgVoteResp }.map(\.reject) == [false])
    #expect(cluster[2].term == 3)
  }

  @Test(
    "§4.2.3 a removed member that missed its removal cannot disrupt the cluster",
    arguments: [true, false])
  func removedMemberCannotDisrupt(preVote: Bool) throws {
    let cluster = TestCluster(members: [1, 2, 3]) { $0.preVote = preVote }
    cluster.elect(1)
    cluster.cut.insert([1, 3])
    try cluster[1].proposeConfChange(confChange(.confChangeRemoveNode, 3))
    cluster.settle()
    #expect(cluster[1].confState.voters == [1, 2])
    #expect(cluster[3].confState.voters == [1, 2, 3], "3 never heard of its removal")
    cluster.healAll()
    cluster.tickAll(100)
    #expect(!cluster.sent.filter { $0.from == 3 && $0.to == 1 }.isEmpty, "3 campaigned")
    #expect(cluster[1].role == .leader)
    #expect(cluster[1].term == 2)
    #expect(cluster[2].term == 2)
    try cluster.propose(1, "x")
    cluster.settle()
    #expect(cluster.appliedData(2) == ["x"])
  }

  @Test("§6.2 a stale leader that reconnects is told the new term by a follower's reply")
  func staleLeaderLearnsNewTerm() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    cluster.isolate(1)
    for _ in 0..<60 where cluster[2].role != .leader && cluster[3].role != .leader {
      cluster.tick(2)
      cluster.tick(3)
    }
    let newLeader: UInt64 = cluster[2].role == .leader ? 2 : 3
    #expect(cluster[newLeader].role == .leader)
    #expect(cluster[1].role == .leader, "1 has not noticed yet")
    cluster.healAll()
    cluster.tick(1)
    #expect(cluster[1].role == .follower)
    #expect(cluster[1].term == cluster[newLeader].term)
  }
}
