import EtcdProto
import Raft
import Testing

/// Plays Figure 3.7 of the thesis on five members (indexes shifted by the five
/// bootstrap entries and the term-2 leader's empty entry at 6):
/// (a) S1 leads term 2 and stores "a" at 7 on S2 only;
/// (b) S5 wins term 3 with S3 and S4 and stores its own entry at 7, alone;
/// (c) S1 wins term 4 with S3 and S4 and copies "a" to them, so four members
///     store it; its own term-4 entry at 8 reaches them too only if
///     `currentTermEntryReplicated`.
/// Returns the cluster with S1 still running.
private func figure37(currentTermEntryReplicated: Bool) throws -> TestCluster {
  let cluster = TestCluster(members: [1, 2, 3, 4, 5]) {
    $0.preVote = false
    $0.checkQuorum = false
    // One entry per append, so a follower can hold 7 without 8.
    $0.maxEntriesSizePerMessage = 1
  }
  cluster.elect(1)
  for other: UInt64 in [3, 4, 5] {
    cluster.cut.formUnion([[1, other], [other, 1]])
  }
  try cluster.propose(1, "a")
  cluster.settle()

  cluster.crash(1)
  cluster.drop = { $0.from == 5 && $0.type == .msgApp }
  cluster.elect(5)
  try #require(cluster[5].role == .leader && cluster[5].term == 3)
  cluster.crash(5)

  cluster.healAll()
  cluster.cut.formUnion([[1, 2], [2, 1]])
  cluster.drop = { [unowned cluster] m in
    !currentTermEntryReplicated && m.type == .msgApp
      && m.entries.contains { $0.index == 8 } && (cluster.nodes[m.to]?.lastIndex ?? 0) >= 7
  }
  cluster.restart(1)
  cluster.settle()
  // Term 3 is lost: S3 and S4 already voted for S5 in it.
  cluster.elect(1)
  cluster.elect(1)
  try #require(cluster[1].role == .leader && cluster[1].term == 4)
  cluster.tick(1, 3)
  return cluster
}

@Suite("Committing entries (§3.6.2)")
struct CommitRuleTests {
  @Test(
    "§3.6.2 a leader commits an entry once a majority of voters stores it",
    arguments: [(0, false), (1, false), (2, true), (3, true), (4, true)])
  func majorityCommits(acking: Int, committed: Bool) throws {
    let cluster = TestCluster(members: [1, 2, 3, 4, 5])
    cluster.elect(1)
    let before = cluster[1].committedIndex
    for follower: UInt64 in [2, 3, 4, 5] where follower > UInt64(acking) + 1 {
      cluster.cut.formUnion([[1, follower], [follower, 1]])
    }
    try cluster.propose(1, "x")
    cluster.settle()
    #expect(cluster[1].committedIndex == (committed ? before + 1 : before))
    #expect(cluster.appliedData(1) == (committed ? ["x"] : []))
  }

  @Test(
    "§3.6.2 Figure 3.7(c,d): an old-term entry on a majority is not committed and is overwritten")
  func oldTermEntryIsNotCommittedByCounting() throws {
    let cluster = try figure37(currentTermEntryReplicated: false)
    for id: UInt64 in [1, 2, 3, 4] {
      #expect(cluster.log(id).contains { $0 == (7, 2) }, "S\(id) stores \"a\"")
    }
    #expect(cluster[1].committedIndex == 6)

    cluster.crash(1)
    cluster.drop = { _ in false }
    cluster.healAll()
    cluster.restart(5)
    cluster.settle()
    cluster.elect(5)
    cluster.elect(5)
    #expect(cluster[5].role == .leader)
    cluster.settle()
    for id: UInt64 in [2, 3, 4, 5] {
      #expect(cluster.log(id).contains { $0 == (7, 3) }, "S\(id) has S5's entry at 7")
      #expect(cluster.appliedData(id).isEmpty)
    }
  }

  @Test("§3.6.2 Figure 3.7(e): a current-term entry on a majority commits the entries before it")
  func currentTermEntryCommitsPredecessors() throws {
    let cluster = try figure37(currentTermEntryReplicated: true)
    #expect(cluster[1].committedIndex == 8)
    #expect(cluster.appliedData(1) == ["a"])

    cluster.crash(1)
    cluster.healAll()
    cluster.restart(5)
    cluster.settle()
    cluster.elect(5)
    cluster.elect(5)
    #expect(cluster[5].role != .leader, "S5's log is behind a majority now")
    for _ in 0..<60 where !cluster.nodes.values.contains(where: { $0.role == .leader }) {
      cluster.tickAll()
    }
    cluster.tickAll(2)
    for id: UInt64 in [2, 3, 4, 5] {
      #expect(cluster.appliedData(id) == ["a"], "S\(id)")
    }
  }
}
