import EtcdProto
import Raft
import Testing

@Suite("Pre-vote (§9.6)")
struct PreVoteTests {
  @Test("§9.6 an isolated member keeps pre-campaigning without raising its term")
  func isolatedMemberKeepsTerm() {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    cluster.isolate(3)
    cluster.tick(3, 100)
    #expect(cluster[3].role == .preCandidate)
    #expect(cluster[3].term == 2)
    #expect(!cluster.sent(.msgPreVote).isEmpty)
    #expect(cluster.sent(.msgVote).filter { $0.from == 3 }.isEmpty)
  }

  @Test(
    "§9.6 a member rejoining after a partition disrupts the leader only without pre-vote",
    arguments: [(true, false), (false, true)])
  func rejoiningMember(preVote: Bool, disrupts: Bool) throws {
    let cluster = TestCluster(members: [1, 2, 3]) { $0.preVote = preVote }
    cluster.elect(1)
    cluster.isolate(3)
    cluster.tickAll(100)
    #expect((cluster[3].term > 2) == disrupts, "terms raised while isolated")
    cluster.healAll()
    cluster.tickAll(60)
    if disrupts {
      #expect(cluster[1].term > 2)
    } else {
      #expect(cluster[1].role == .leader)
      #expect(cluster.nodes.values.allSatisfy { $0.term == 2 && $0.leader == 1 })
    }
  }

  @Test("§9.6 winning the pre-vote leads to one real election that raises the term once")
  func preVoteThenElection() {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    cluster.crash(1)
    cluster.tick(2, 10)
    cluster.tick(3, 10)
    cluster.elect(2)
    #expect(cluster[2].role == .leader)
    #expect(cluster[2].term == 3)
    #expect(cluster.sent(.msgPreVote).contains { $0.from == 2 && $0.term == 3 })
  }

  @Test(
    "§9.6 a pre-vote is granted on the vote rules but changes neither term, vote nor leader",
    arguments: [
      VoteTests.LogCase(name: "log up to date", lastTerm: 2, lastIndex: 4, granted: true),
      VoteTests.LogCase(name: "log behind", lastTerm: 1, lastIndex: 9, granted: false),
    ])
  func preVoteChangesNothing(c: VoteTests.LogCase) throws {
    let cluster = TestCluster(members: [1, 2, 3]) { $0.checkQuorum = false }
    cluster.elect(1)
    let hardState = cluster[2].hardState
    try cluster[2].step(
      message(.msgPreVote, from: 3, to: 2, term: 3, index: c.lastIndex, logTerm: c.lastTerm))
    cluster.process(2)
    let replies = cluster.take { $0.from == 2 }
    #expect(replies.map(\.type) == [.msgPreVoteResp])
    #expect(replies.first?.reject == !c.granted)
    #expect(cluster[2].hardState == hardState)
    #expect(cluster[2].leader == 1)
    // Its real vote in term 3 is still free.
    try cluster[2].step(message(.msgVote, from: 1, to: 2, term: 3, index: 4, logTerm: 2))
    cluster.process(2)
    #expect(cluster.take { $0.from == 2 }.map(\.reject) == [false])
  }

  @Test("§9.6 a pre-candidate that hears from a leader of its term follows it again")
  func preCandidateFollowsLeader() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    cluster.isolate(3)
    cluster.tick(3, 20)
    #expect(cluster[3].role == .preCandidate)
    cluster.healAll()
    cluster.tick(1)
    #expect(cluster[3].role == .follower)
    #expect(cluster[3].leader == 1)
    #expect(cluster[3].term == 2)
  }

  @Test("§9.6 a pre-vote from an older term is refused with the newer term")
  func stalePreVoteRefused() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    try cluster[2].step(message(.msgPreVote, from: 3, to: 2, term: 1, index: 9, logTerm: 2))
    cluster.process(2)
    let replies = cluster.take { $0.from == 2 }
    #expect(replies.map(\.type) == [.msgPreVoteResp])
    #expect(replies.first?.reject == true)
    #expect(replies.first?.term == 2)
  }
}
