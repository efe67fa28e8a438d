import EtcdProto
import Raft
import Testing

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Leader 1 of three commits "a", "b", "c" while 3 is cut off, then compacts
/// its log past them; the link to 3 is healed.
private func clusterWithCompactedLeader() throws -> TestCluster {
  let cluster = TestCluster(members: [1, 2, 3])
  cluster.elect(1)
  cluster.isolate(3)
  for data in ["a", "b", "c"] { try cluster.propose(1, data) }
  cluster.settle()
  try cluster.compact(1)
  cluster.healAll()
  return cluster
}

@Suite("Snapshots (§5.1)")
struct SnapshotTests {
  @Test("§5.1 a follower behind the leader's compacted log is sent its snapshot, then entries")
  func laggingFollowerGetsSnapshot() throws {
    let cluster = try clusterWithCompactedLeader()
    let snapshotIndex = cluster.storages[1]!.snapshot.metadata.index
    try cluster.propose(1, "d")
    cluster.settle()
    #expect(cluster.sent(.msgSnap, to: 3).count == 1)
    #expect(cluster.sent(.msgSnap, to: 3).first?.snapshot.metadata.index == snapshotIndex)
    #expect(cluster.storages[3]!.snapshot.metadata.index == snapshotIndex)
    #expect(cluster.appliedData(3) == ["a", "b", "c", "d"])
    #expect(cluster[3].committedIndex == cluster[1].committedIndex)
  }

  @Test("§5.1 a failed snapshot sends the follower back to probing; it is retried after it answers")
  func failedSnapshotRetried() throws {
    let cluster = try clusterWithCompactedLeader()
    var dropped = false
    cluster.drop = { m in
      guard m.type == .msgSnap, !dropped else { return false }
      dropped = true
      return true
    }
    try cluster.propose(1, "d")
    cluster.settle()
    #expect(cluster.sent(.msgSnap, to: 3).count == 1)
    #expect(cluster.appliedData(3).isEmpty)
    let appendsAfterFailure = cluster.sent(.msgApp, to: 3).count
    try cluster.propose(1, "e")
    cluster.settle()
    #expect(cluster.sent(.msgApp, to: 3).count == appendsAfterFailure, "waits for an answer")
    cluster.tick(1)
    #expect(cluster.sent(.msgSnap, to: 3).count == 2)
    #expect(cluster.appliedData(3) == ["a", "b", "c", "d", "e"])
  }

  @Test("§5.1 nothing but the snapshot goes to a follower while its snapshot is in flight")
  func nothingElseWhileSnapshotPending() throws {
    let cluster = try clusterWithCompactedLeader()
    cluster.hold = { $0.type == .msgSnap }
    try cluster.propose(1, "d")
    cluster.settle()
    #expect(cluster.held.count == 1)
    let appends = cluster.sent(.msgApp, to: 3).count
    try cluster.propose(1, "e")
    cluster.settle()
    cluster.tick(1, 3)
    #expect(cluster.sent(.msgApp, to: 3).count == appends)
    #expect(cluster.sent(.msgSnap, to: 3).count == 1)
    cluster.release()
    cluster.settle()
    #expect(cluster.appliedData(3) == ["a", "b", "c", "d", "e"])
  }

  enum Holding: String, Sendable, CaseIterable {
    /// The follower stores the snapshot's last entry but does not know it is committed.
    case lastEntryUncommitted
    /// The follower lacks the snapshot's last entry.
    case lastEntryMissing
    /// The follower has already committed the snapshot's last entry.
    case lastEntryCommitted
  }

  @Test(
    "§5.1 a follower restores a snapshot only if its log lacks the snapshot's last entry",
    arguments: Holding.allCases)
  func restoreOnlyWhenNeeded(holding: Holding) throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    try cluster.propose(1, "a")
    cluster.settle()
    // Index 6, "b", reaches 3 in the first case only; 3 never learns it is committed.
    if holding == .lastEntryMissing { cluster.cut.insert([1, 3]) }
    try cluster.propose(1, "b")
    cluster.process(1)
    cluster.deliver { $0.type == .msgApp }
    cluster.cut.insert([1, 3])
    cluster.settle()
    #expect(cluster[1].committedIndex == 6)
    #expect(cluster[3].committedIndex == 5)
    let index: UInt64 = holding == .lastEntryCommitted ? 5 : 6
    let data = holding == .lastEntryCommitted ? "a" : "a\nb"
    let snapshot = try cluster.storages[1]!.createSnapshot(
      index: index, confState: cluster[1].confState, data: Data(data.utf8))
    var m = message(.msgSnap, from: 1, to: 3, term: 2)
    m.snapshot = snapshot
    try cluster[3].step(m)
    let rd = cluster[3].ready()
    #expect((rd.snapshot != nil) == (holding == .lastEntryMissing))
    let reply = try #require(rd.messagesAfterSync.first { $0.type == .msgAppResp })
    #expect(!reply.reject)
    #expect(reply.index == (holding == .lastEntryCommitted ? 5 : 6))
    cluster.handle(3, rd)
    cluster.process(3)
    #expect(cluster[3].committedIndex == index)
    #expect(cluster.appliedData(3) == (holding == .lastEntryCommitted ? ["a"] : ["a", "b"]))
  }

  @Test("§5.1 a member added while unreachable catches up from a snapshot of the compacted log")
  func newMemberFromSnapshot() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    try cluster.propose(1, "a")
    cluster.settle()
    cluster.addNode(4)
    cluster.isolate(4)
    try cluster[1].proposeConfChange(confChange(.confChangeAddNode, 4))
    cluster.settle()
    try cluster.propose(1, "b")
    cluster.settle()
    try cluster.compact(1)
    cluster.healAll()
    cluster.tickAll(3)
    #expect(cluster.sent(.msgSnap, to: 4).count == 1)
    #expect(cluster.appliedData(4) == ["a", "b"])
    #expect(cluster[4].confState.voters == [1, 2, 3, 4])
  }
}
