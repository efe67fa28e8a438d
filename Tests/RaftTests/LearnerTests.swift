import EtcdProto
import Raft
import Testing

/// Voters 1, 2, 3 led by 1, and learner 4.
private func clusterWithLearner(configure: (inout RaftConfig) -> Void = { _ in }) -> TestCluster {
  let cluster = TestCluster(members: [1, 2, 3], learners: [4], configure: configure)
  cluster.elect(1)
  return cluster
}

@Suite("Learners (§4.2.1)")
struct LearnerTests {
  @Test("§4.2.1 a learner receives and applies the log")
  func learnerReceivesLog() throws {
    let cluster = clusterWithLearner()
    try cluster.propose(1, "a")
    cluster.settle()
    #expect(cluster.appliedData(4) == ["a"])
    #expect(cluster[4].confState.learners == [4])
    #expect(cluster[4].leader == 1)
  }

  @Test("§4.2.1 a learner is never asked for a vote or pre-vote")
  func learnerNotAskedToVote() {
    let cluster = clusterWithLearner()
    #expect(cluster.sent(.msgPreVote, to: 4).isEmpty)
    #expect(cluster.sent(.msgVote, to: 4).isEmpty)
    #expect(cluster.sent(.msgVote).count == 2)
  }

  @Test("§4.2.1 a learner's acknowledgement does not count toward a commit quorum")
  func learnerAckDoesNotCommit() throws {
    let cluster = clusterWithLearner()
    let committed = cluster[1].committedIndex
    for voter: UInt64 in [2, 3] {
      cluster.cut.formUnion([[1, voter], [voter, 1]])
    }
    try cluster.propose(1, "x")
    cluster.settle()
    #expect(cluster.sent(.msgAppResp).contains { $0.from == 4 && $0.index == committed + 1 })
    #expect(cluster[1].committedIndex == committed)
    cluster.healAll()
    cluster.tickAll()
    #expect(cluster[1].committedIndex == committed + 1)
  }

  @Test("§4.2.1 a learner's granted vote does not elect a candidate")
  func learnerVoteDoesNotCount() throws {
    let cluster = TestCluster(members: [1, 2, 3], learners: [4]) { $0.preVote = false }
    cluster.crash(2)
    cluster.crash(3)
    cluster.elect(1)
    let term = cluster[1].term
    #expect(cluster[1].role == .candidate)
    try cluster[1].step(message(.msgVoteResp, from: 4, to: 1, term: term))
    #expect(cluster[1].role == .candidate)
  }

  @Test("§4.2.1 a learner never campaigns, whatever tells it to")
  func learnerNeverCampaigns() throws {
    let cluster = clusterWithLearner()
    cluster.crash(1)
    cluster[4].campaign()
    try cluster[4].step(message(.msgTimeoutNow, from: 1, to: 4, term: 2))
    cluster.tick(4, 100)
    #expect(cluster[4].role == .follower)
    #expect(cluster[4].term == 2)
    #expect(
      cluster.sent.filter { $0.from == 4 && [.msgVote, .msgPreVote].contains($0.type) }.isEmpty)
  }

  @Test("§4.2.1 promoting a learner makes it a voter that counts toward the quorum")
  func promotedLearnerCounts() throws {
    let cluster = clusterWithLearner()
    try cluster[1].proposeConfChange(confChange(.confChangeAddNode, 4))
    cluster.settle()
    for id: UInt64 in [1, 2, 3, 4] {
      #expect(cluster[id].confState.voters == [1, 2, 3, 4])
      #expect(cluster[id].confState.learners == [])
    }
    // Four voters need three: the leader and 4 alone no longer commit.
    let committed = cluster[1].committedIndex
    for voter: UInt64 in [2, 3] {
      cluster.cut.formUnion([[1, voter], [voter, 1]])
    }
    try cluster.propose(1, "x")
    cluster.settle()
    #expect(cluster[1].committedIndex == committed)
    cluster.cut.subtract([[1, 2], [2, 1]])
    cluster.tickAll()
    #expect(cluster[1].committedIndex == committed + 1)
  }

  @Test("§4.2.1 a promoted learner can be elected")
  func promotedLearnerCanLead() throws {
    let cluster = clusterWithLearner()
    try cluster[1].proposeConfChange(confChange(.confChangeAddNode, 4))
    cluster.settle()
    cluster[1].transferLeader(to: 4)
    cluster.settle()
    #expect(cluster[4].role == .leader)
    #expect(cluster[1].leader == 4)
  }
}
