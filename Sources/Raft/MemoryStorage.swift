import EtcdProto

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Why a log read could not be served.
public enum LogReadError: Error, Equatable {
  /// The index is at or below the last snapshot: those entries are compacted away.
  case compacted
  /// The index is past the last entry.
  case unavailable
  /// No snapshot has been taken yet (a follower needs one that does not exist).
  case snapshotTemporarilyUnavailable
}

/// The stable part of a member's Raft log, kept in memory and filled by the
/// caller from what it made durable (WAL replay, then each `Ready`).
///
/// Raft only reads it. The caller appends a `Ready`'s entries, hard state and
/// snapshot here after they are synced, then calls `advance`, so everything in
/// this storage is durable by contract.
///
/// Layout: `entries[0]` is a dummy entry standing for the snapshot (its index
/// and term); real entries follow contiguously.
public final class MemoryStorage {
  public private(set) var hardState = Raftpb_HardState()
  public private(set) var snapshot = Raftpb_Snapshot()
  private var entries: [Raftpb_Entry]

  public init() {
    entries = [Raftpb_Entry()]
  }

  /// Index of the first entry still held (one past the snapshot).
  public var firstIndex: UInt64 { entries[0].index + 1 }

  /// Index of the last entry held, or the snapshot's index when none follow it.
  public var lastIndex: UInt64 { entries[0].index + UInt64(entries.count) - 1 }

  /// The membership the member starts from: the snapshot's, before any conf
  /// change entry in the log is applied.
  public var confState: Raftpb_ConfState { snapshot.metadata.confState }

  public func setHardState(_ state: Raftpb_HardState) {
    hardState = state
  }

  /// Term of the entry at `index`: the snapshot's term at its index.
  public func term(_ index: UInt64) throws(LogReadError) -> UInt64 {
    let offset = entries[0].index
    if index < offset { throw .compacted }
    // index >= offset, so the subtraction cannot underflow.
    let position = index - offset
    if position >= UInt64(entries.count) { throw .unavailable }
    return entries[Int(position)].term
  }

  /// Entries in `[low, high)`, cut after `maxSize` encoded bytes but never empty
  /// when the range is not.
  public func entries(_ low: UInt64, _ high: UInt64, maxSize: UInt64) throws(LogReadError)
    -> [Raftpb_Entry]
  {
    let offset = entries[0].index
    if low <= offset { throw .compacted }
    precondition(high <= lastIndex + 1, "entries(\(low), \(high)) past last index \(lastIndex)")
    if low >= high { return [] }
    let slice = entries[Int(low - offset)..<Int(high - offset)]
    return limitSize(Array(slice), maxSize: maxSize)
  }

  /// Replaces the log with a snapshot received from the leader. Older snapshots
  /// are ignored.
  public func applySnapshot(_ snap: Raftpb_Snapshot) {
    guard snap.metadata.index > snapshot.metadata.index else { return }
    snapshot = snap
    var dummy = Raftpb_Entry()
    dummy.index = snap.metadata.index
    dummy.term = snap.metadata.term
    entries = [dummy]
  }

  /// Records a snapshot of the state machine at `index` (which must be applied
  /// by the caller) so lagging followers can be sent it. Returns it.
  @discardableResult
  public func createSnapshot(index: UInt64, confState: Raftpb_ConfState, data: Data)
    throws(LogReadError) -> Raftpb_Snapshot
  {
    if index <= snapshot.metadata.index { throw .compacted }
    precondition(index <= lastIndex, "snapshot index \(index) past last index \(lastIndex)")
    var snap = Raftpb_Snapshot()
    snap.metadata.index = index
    snap.metadata.term = try term(index)
    snap.metadata.confState = confState
    snap.data = data
    snapshot = snap
    return snap
  }

  /// Drops entries before `index`: the entry at `index` becomes the dummy.
  public func compact(_ index: UInt64) throws(LogReadError) {
    let offset = entries[0].index
    if index <= offset { throw .compacted }
    precondition(index <= lastIndex, "compact \(index) past last index \(lastIndex)")
    let position = Int(index - offset)
    var dummy = Raftpb_Entry()
    dummy.index = entries[position].index
    dummy.term = entries[position].term
    entries = [dummy] + entries[(position + 1)...]
  }

  /// Appends durable entries; a suffix that conflicts with them is replaced.
  public func append(_ new: [Raftpb_Entry]) {
    guard let first = new.first else { return }
    let offset = entries[0].index
    // Entries already compacted into the snapshot are skipped.
    var toAdd = new[...]
    if first.index <= offset {
      toAdd = new.dropFirst(Int(offset + 1 - first.index))
      guard !toAdd.isEmpty else { return }
    }
    let start = toAdd.first!.index
    precondition(
      start <= lastIndex + 1, "append at \(start) leaves a gap after last index \(lastIndex)")
    entries.removeSubrange(Int(start - offset)...)
    entries.append(contentsOf: toAdd)
  }
}

/// Keeps a prefix of `entries` whose encoded size stays within `maxSize`,
/// always at least one entry so progress is possible.
func limitSize(_ entries: [Raftpb_Entry], maxSize: UInt64) -> [Raftpb_Entry] {
  guard entries.count > 1, maxSize != .max else { return entries }
  var size: UInt64 = 0
  for (i, entry) in entries.enumerated() {
    size += UInt64(entry.data.count) + 24
    if size > maxSize && i > 0 { return Array(entries[..<i]) }
  }
  return entries
}
