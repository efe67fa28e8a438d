import EtcdProto
import Raft
import Testing

@Suite("Persisted state and restarts (§3.8)")
struct DurabilityTests {
  @Test(
    "§3.8 a member restarted from its storage keeps its term, vote and log",
    arguments: [RaftRole.follower, .candidate, .leader])
  func restartKeepsState(role: RaftRole) throws {
    let cluster = TestCluster(members: [1, 2, 3]) { $0.preVote = false }
    switch role {
    case .leader, .follower:
      cluster.elect(1)
      try cluster.propose(1, "x")
      cluster.settle()
    case .candidate, .preCandidate:
      cluster.crash(2)
      cluster.crash(3)
      cluster.elect(1)
    }
    let id: UInt64 = role == .follower ? 2 : 1
    #expect(cluster[id].role == role)
    let hardState = cluster[id].hardState
    let lastIndex = cluster[id].lastIndex
    let log = cluster.log(id)
    cluster.crash(id)
    cluster.restart(id)
    cluster.process(id)
    #expect(cluster[id].role == .follower)
    #expect(cluster[id].hardState == hardState)
    #expect(cluster[id].lastIndex == lastIndex)
    #expect(cluster.log(id).map(\.0) == log.map(\.0))
    #expect(cluster.log(id).map(\.1) == log.map(\.1))
  }

  @Test("§3.8 a restarted member does not vote twice in a term")
  func restartedVoterRemembersVote() throws {
    let cluster = TestCluster(members: [1, 2, 3]) { $0.checkQuorum = false }
    cluster.crash(1)
    try cluster[3].step(message(.msgVote, from: 1, to: 3, term: 2, index: 3, logTerm: 1))
    cluster.process(3)
    #expect(cluster.take { $0.from == 3 }.map(\.reject) == [false])
    cluster.crash(3)
    cluster.restart(3)
    cluster.process(3)
    try cluster[3].step(message(.msgVote, from: 2, to: 3, term: 2, index: 3, logTerm: 1))
    try cluster[3].step(message(.msgVote, from: 1, to: 3, term: 2, index: 3, logTerm: 1))
    cluster.process(3)
    #expect(cluster.take { $0.from == 3 }.map(\.reject) == [true, false])
  }

  @Test("§3.8 a restarted member replays its committed log into its state machine and rejoins")
  func restartReplaysLog() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    try cluster.propose(1, "a")
    cluster.settle()
    cluster.crash(2)
    try cluster.propose(1, "b")
    cluster.settle()
    cluster.restart(2)
    cluster.settle()
    #expect(cluster.appliedData(2) == ["a"])
    #expect(cluster[2].confState.voters == [1, 2, 3])
    cluster.tickAll()
    #expect(cluster.appliedData(2) == ["a", "b"])
    #expect(cluster[2].leader == 1)
  }

  @Test("§3.8 a member restarted after compacting its log resumes from its snapshot")
  func restartFromSnapshot() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    try cluster.propose(1, "a")
    try cluster.propose(1, "b")
    cluster.settle()
    try cluster.compact(2)
    try cluster.propose(1, "c")
    cluster.settle()
    cluster.crash(2)
    cluster.restart(2)
    cluster.settle()
    #expect(cluster.applied[2]!.map(\.index) == [cluster[2].committedIndex])
    #expect(cluster.appliedData(2) == ["a", "b", "c"])
    #expect(cluster[2].confState.voters == [1, 2, 3])
  }
}
