import EtcdProto
import Raft
import Testing

/// A three-member cluster led by 1 in term 2, whose followers ignore the
/// leader lease so each vote request is judged on the vote rules alone. Every
/// log is the three bootstrap entries (term 1) and the leader's entry at 4
/// (term 2).
private func clusterWithoutLease() -> TestCluster {
  let cluster = TestCluster(members: [1, 2, 3]) { $0.checkQuorum = false }
  cluster.elect(1)
  return cluster
}

/// The vote responses `from` sent since the queue was last emptied.
private func votes(from id: UInt64, in cluster: TestCluster) -> [Raftpb_Message] {
  cluster.process(id)
  return cluster.take { $0.from == id && $0.type == .msgVoteResp }
}

@Suite("Vote restrictions (§3.6.1)")
struct VoteTests {
  struct LogCase: Sendable, CustomTestStringConvertible {
    var name: String
    var lastTerm: UInt64
    var lastIndex: UInt64
    var granted: Bool
    var testDescription: String { name }
  }

  @Test(
    "§3.6.1 a vote goes only to a candidate whose log is at least as up to date",
    arguments: [
      LogCase(name: "same last term and index", lastTerm: 2, lastIndex: 4, granted: true),
      LogCase(name: "same last term, longer", lastTerm: 2, lastIndex: 9, granted: true),
      LogCase(name: "higher last term, shorter", lastTerm: 3, lastIndex: 2, granted: true),
      LogCase(name: "same last term, shorter", lastTerm: 2, lastIndex: 3, granted: false),
      LogCase(name: "lower last term, longer", lastTerm: 1, lastIndex: 9, granted: false),
    ])
  func upToDateLogsOnly(c: LogCase) throws {
    let cluster = clusterWithoutLease()
    try cluster[2].step(
      message(.msgVote, from: 3, to: 2, term: 3, index: c.lastIndex, logTerm: c.lastTerm))
    let replies = votes(from: 2, in: cluster)
    #expect(replies.count == 1)
    #expect(replies.first?.reject == !c.granted)
    #expect(replies.first?.term == 3)
    #expect(cluster.storages[2]!.hardState.vote == (c.granted ? 3 : 0))
  }

  @Test("§3.6 a member grants at most one vote per term, and repeats it to the same candidate")
  func oneVotePerTerm() throws {
    let cluster = clusterWithoutLease()
    try cluster[2].step(message(.msgVote, from: 3, to: 2, term: 3, index: 4, logTerm: 2))
    try cluster[2].step(message(.msgVote, from: 1, to: 2, term: 3, index: 4, logTerm: 2))
    try cluster[2].step(message(.msgVote, from: 3, to: 2, term: 3, index: 4, logTerm: 2))
    let replies = votes(from: 2, in: cluster)
    #expect(replies.map(\.to) == [3, 1, 3])
    #expect(replies.map(\.reject) == [false, true, false])
  }

  @Test("§3.6 a follower that knows the leader of a term votes for no one else in it")
  func noVoteAgainstKnownLeader() throws {
    let cluster = clusterWithoutLease()
    try cluster[2].step(message(.msgVote, from: 3, to: 2, term: 2, index: 9, logTerm: 2))
    let replies = votes(from: 2, in: cluster)
    #expect(replies.map(\.reject) == [true])
    #expect(cluster[2].leader == 1)
  }

  @Test("§3.6.1 a member missing committed entries cannot be elected")
  func staleMemberLoses() throws {
    let cluster = TestCluster(members: [1, 2, 3]) {
      $0.preVote = false
      $0.checkQuorum = false
    }
    cluster.elect(1)
    cluster.isolate(3)
    try cluster.propose(1, "committed")
    cluster.settle()
    cluster.crash(1)
    cluster.healAll()
    cluster.elect(3)
    #expect(cluster[3].role != .leader)
    for _ in 0..<40 where cluster[2].role != .leader {
      cluster.tickAll()
    }
    #expect(cluster[2].role == .leader)
    cluster.settle()
    #expect(cluster.appliedData(3) == ["committed"])
  }
}
