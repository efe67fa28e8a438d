import EtcdProto
import Raft
import Testing

/// Node 2 of a cluster whose leader 1 won term 2: its log is the three
/// bootstrap entries (term 1) and the leader's empty entry at 4 (term 2), all
/// committed.
private func followerOfTermTwo() throws -> TestCluster {
  let cluster = TestCluster(members: [1, 2, 3])
  cluster.elect(1)
  try #require(cluster[2].lastIndex == 4 && cluster[2].committedIndex == 4)
  return cluster
}

@Suite("Log replication (§3.5)")
struct LogReplicationTests {
  @Test("§3.5 proposals commit on every member once a quorum stores them")
  func replicates() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    try cluster.propose(1, "a")
    try cluster.propose(1, "b")
    cluster.settle()
    for id: UInt64 in [1, 2, 3] {
      #expect(cluster.appliedData(id) == ["a", "b"])
    }
  }

  struct AppendCase: Sendable, CustomTestStringConvertible {
    var name: String
    var index: UInt64
    var logTerm: UInt64
    var accepted: Bool
    var testDescription: String { name }
  }

  @Test(
    "§3.5 a follower takes an append only if it holds the entry before it",
    arguments: [
      AppendCase(name: "matching previous entry", index: 4, logTerm: 2, accepted: true),
      AppendCase(name: "previous entry past the end", index: 6, logTerm: 2, accepted: false),
      AppendCase(name: "previous entry of another term", index: 4, logTerm: 1, accepted: false),
    ])
  func consistencyCheck(c: AppendCase) throws {
    let cluster = try followerOfTermTwo()
    try cluster[2].step(
      message(
        .msgApp, from: 1, to: 2, term: 2, index: c.index, logTerm: c.logTerm, commit: 4,
        entries: [entry(c.index + 1, term: 2, "x")]))
    cluster.process(2)
    let reply = try #require(cluster.take { $0.from == 2 }.first)
    #expect(reply.type == .msgAppResp)
    #expect(reply.reject == !c.accepted)
    #expect(cluster[2].lastIndex == (c.accepted ? c.index + 1 : 4))
  }

  struct TruncateCase: Sendable, CustomTestStringConvertible {
    var name: String
    /// Appends as (term of the message, entries as (index, term)).
    var appends: [(UInt64, [(UInt64, UInt64)])]
    var expected: [(UInt64, UInt64)]
    var testDescription: String { name }
  }

  @Test(
    "§3.5 a conflicting entry and all that follow it are replaced; matching ones are kept",
    arguments: [
      TruncateCase(
        name: "new leader overwrites a suffix",
        appends: [(2, [(5, 2), (6, 2)]), (3, [(5, 3)])],
        expected: [(5, 3)]),
      TruncateCase(
        name: "delayed shorter append keeps the longer log",
        appends: [(2, [(5, 2), (6, 2)]), (2, [(5, 2)])],
        expected: [(5, 2), (6, 2)]),
      TruncateCase(
        name: "conflict in the middle keeps the prefix",
        appends: [(2, [(5, 2), (6, 2), (7, 2)]), (3, [(5, 2), (6, 3)])],
        expected: [(5, 2), (6, 3)]),
    ])
  func conflictsAreTruncated(c: TruncateCase) throws {
    let cluster = try followerOfTermTwo()
    for (term, entries) in c.appends {
      try cluster[2].step(
        message(
          .msgApp, from: 1, to: 2, term: term, index: 4, logTerm: 2, commit: 4,
          entries: entries.map { entry($0.0, term: $0.1) }))
      cluster.process(2)
    }
    let tail = cluster.log(2).filter { $0.0 > 4 }
    #expect(tail.map(\.0) == c.expected.map(\.0))
    #expect(tail.map(\.1) == c.expected.map(\.1))
  }

  @Test("§3.5 a follower commits up to the leader's commit but not past its last new entry")
  func followerCommitIsBounded() throws {
    let cluster = try followerOfTermTwo()
    try cluster[2].step(
      message(
        .msgApp, from: 1, to: 2, term: 2, index: 4, logTerm: 2, commit: 9,
        entries: [entry(5, term: 2, "a")]))
    cluster.process(2)
    #expect(cluster[2].committedIndex == 5)
    #expect(cluster.appliedData(2) == ["a"])
  }

  @Test("§3.5 an append below the follower's commit index is answered with that index")
  func staleAppendAnsweredWithCommit() throws {
    let cluster = try followerOfTermTwo()
    try cluster[2].step(
      message(
        .msgApp, from: 1, to: 2, term: 2, index: 1, logTerm: 1, commit: 1,
        entries: [entry(2, term: 1)]))
    cluster.process(2)
    let reply = try #require(cluster.take { $0.from == 2 }.first)
    #expect(reply.type == .msgAppResp)
    #expect(!reply.reject)
    #expect(reply.index == 4)
    #expect(cluster[2].lastIndex == 4)
  }

  @Test("§3.5 after leader changes and partitions every member holds the same log")
  func logsConverge() throws {
    let cluster = TestCluster(members: [1, 2, 3, 4, 5])
    cluster.elect(1)
    try cluster.propose(1, "a")
    cluster.settle()
    // 1 keeps accepting proposals no one else sees.
    cluster.isolate(1)
    try cluster.propose(1, "lost-1")
    try cluster.propose(1, "lost-2")
    cluster.settle()
    cluster.tickAll(30)
    let second = try #require(cluster.nodes.values.first { $0.role == .leader && $0.id != 1 })
    try cluster.propose(second.id, "b")
    cluster.settle()
    cluster.healAll()
    cluster.tickAll(5)
    try cluster.propose(second.id, "c")
    cluster.settle()
    cluster.tickAll(2)
    let reference = cluster.log(second.id)
    for id: UInt64 in [1, 2, 3, 4, 5] {
      #expect(cluster.appliedData(id) == ["a", "b", "c"])
      #expect(cluster.log(id).map(\.0) == reference.map(\.0))
      #expect(cluster.log(id).map(\.1) == reference.map(\.1))
    }
  }
}
