import EtcdProto
import Raft
import Testing

@Suite("Leader election (§3.3, §3.4)")
struct ElectionTests {
  @Test("§3.4 a campaigning member with an up-to-date log wins a majority")
  func electsLeader() {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    #expect(cluster[1].role == .leader)
    #expect(cluster[2].leader == 1)
    #expect(cluster[3].leader == 1)
    #expect(cluster[1].term == 2)
  }

  @Test("§3.4 a single member elects itself when its election timeout elapses")
  func singleMember() throws {
    let cluster = TestCluster(members: [1])
    cluster.tickAll(25)
    #expect(cluster[1].role == .leader)
    try cluster.propose(1, "x")
    cluster.settle()
    #expect(cluster.appliedData(1) == ["x"])
  }

  @Test(
    "§3.4 a follower hearing no leader campaigns within [election, 2×election) ticks",
    arguments: [1, 2, 3, 42, 7919, 1 << 40] as [UInt64])
  func electionTimeoutIsRandomizedInRange(seed: UInt64) {
    let cluster = TestCluster(members: [1, 2, 3]) {
      $0.randomSeed = seed &+ $0.id
      $0.preVote = false
    }
    cluster.crash(2)
    cluster.crash(3)
    var ticks = 0
    while cluster[1].role == .follower && ticks < 100 {
      cluster.tick(1)
      ticks += 1
    }
    #expect(cluster[1].role == .candidate)
    #expect((10..<20).contains(ticks), "campaigned after \(ticks) ticks")
  }

  @Test("§3.4 randomized timeouts let one member win without a split vote")
  func randomizedTimeoutsAvoidSplitVotes() {
    let cluster = TestCluster(members: [1, 2, 3, 4, 5])
    for _ in 0..<40 where !cluster.nodes.values.contains(where: { $0.role == .leader }) {
      cluster.tickAll()
    }
    let leaders = cluster.nodes.values.filter { $0.role == .leader }
    #expect(leaders.count == 1)
    #expect(leaders.first?.term == 2, "won in the first election")
    for node in cluster.nodes.values {
      #expect(node.leader == leaders.first?.id)
    }
  }

  @Test("§3.4 a candidate rejected by a majority returns to follower in its term")
  func candidateLosesElection() throws {
    let cluster = TestCluster(members: [1, 2, 3]) { $0.preVote = false }
    cluster[1].campaign()
    cluster.process(1)
    #expect(cluster[1].role == .candidate)
    _ = cluster.take { $0.type == .msgVote }
    for voter: UInt64 in [2, 3] {
      try cluster[1].step(message(.msgVoteResp, from: voter, to: 1, term: 2, reject: true))
    }
    #expect(cluster[1].role == .follower)
    #expect(cluster[1].term == 2)
    #expect(cluster[1].leader == 0)
  }

  @Test("§3.4 a candidate that hears from a leader of its term becomes its follower")
  func candidateStepsDownForLeader() throws {
    let cluster = TestCluster(members: [1, 2, 3]) { $0.preVote = false }
    cluster[1].campaign()
    cluster.process(1)
    _ = cluster.take { _ in true }
    try cluster[1].step(
      message(.msgApp, from: 2, to: 1, term: 2, index: 3, logTerm: 1, commit: 3))
    #expect(cluster[1].role == .follower)
    #expect(cluster[1].leader == 2)
    #expect(cluster[1].term == 2)
  }

  @Test("§3.4 a split vote elects no one; a later election does")
  func splitVoteResolves() {
    let cluster = TestCluster(members: [1, 2, 3, 4]) { $0.preVote = false }
    cluster[1].campaign()
    cluster[2].campaign()
    cluster.processAll()
    // 3 hears from 1 first and 4 from 2: two votes each, quorum is three.
    cluster.deliver { $0.type == .msgVote && [[1, 3], [2, 4]].contains([$0.from, $0.to]) }
    cluster.settle()
    for id: UInt64 in [1, 2, 3, 4] {
      #expect(cluster[id].role == .follower)
      #expect(cluster[id].term == 2)
    }
    for _ in 0..<40 where !cluster.nodes.values.contains(where: { $0.role == .leader }) {
      cluster.tickAll()
    }
    let leaders = cluster.nodes.values.filter { $0.role == .leader }
    #expect(leaders.count == 1)
    #expect((leaders.first?.term ?? 0) > 2)
  }

  @Test("§3.4 a leader sends a heartbeat to every follower each heartbeat interval")
  func heartbeatsEveryInterval() {
    let cluster = TestCluster(members: [1, 2, 3]) {
      $0.heartbeatTicks = 3
      $0.electionTicks = 30
    }
    cluster.elect(1)
    let before = cluster.sent(.msgHeartbeat).count
    cluster.tick(1, 9)
    let heartbeats = cluster.sent(.msgHeartbeat).dropFirst(before)
    #expect(heartbeats.filter { $0.to == 2 }.count == 3)
    #expect(heartbeats.filter { $0.to == 3 }.count == 3)
  }

  @Test("§3.4 followers that keep hearing heartbeats never campaign")
  func heartbeatsSuppressElections() {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    cluster.tickAll(100)
    #expect(cluster[1].role == .leader)
    #expect(cluster.nodes.values.allSatisfy { $0.term == 2 && $0.leader == 1 })
  }

  @Test(
    "§3.3 a message of a higher term turns any role into a follower of that term",
    arguments: [RaftRole.leader, .candidate, .follower])
  func higherTermDemotes(role: RaftRole) throws {
    let cluster = TestCluster(members: [1, 2, 3]) { $0.preVote = false }
    switch role {
    case .leader: cluster.elect(1)
    case .candidate:
      cluster[1].campaign()
      cluster.process(1)
    case .follower, .preCandidate: break
    }
    #expect(cluster[1].role == role)
    let term = cluster[1].term + 5
    try cluster[1].step(message(.msgHeartbeat, from: 3, to: 1, term: term))
    #expect(cluster[1].role == .follower)
    #expect(cluster[1].term == term)
    #expect(cluster[1].leader == 3)
  }

  @Test("§3.3 an append from an older term is refused and tells its sender the new term")
  func staleTermIgnored() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    let lastIndex = cluster[2].lastIndex
    try cluster[2].step(
      message(
        .msgApp, from: 3, to: 2, term: 1, index: lastIndex, logTerm: 2,
        entries: [entry(lastIndex + 1, term: 1, "stale")]))
    cluster.process(2)
    #expect(cluster[2].lastIndex == lastIndex)
    #expect(cluster[2].leader == 1)
    let replies = cluster.take { $0.from == 2 && $0.to == 3 }
    #expect(replies.map(\.type) == [.msgAppResp])
    #expect(replies.first?.term == 2)
  }
}
