import EtcdProto

/// Entries (and possibly a snapshot) received but not yet durable: the caller
/// gets them in a `Ready` and reports them synced through `advance`.
struct Unstable {
  /// A snapshot from the leader that replaces everything before it.
  var snapshot: Raftpb_Snapshot?
  var entries: [Raftpb_Entry] = []
  /// Index of `entries[0]`; entries before it live in `MemoryStorage`.
  var offset: UInt64

  var lastIndex: UInt64? {
    if let last = entries.last { return last.index }
    return snapshot?.metadata.index
  }

  func term(_ index: UInt64) -> UInt64? {
    if index < offset {
      if let snap = snapshot, snap.metadata.index == index { return snap.metadata.term }
      return nil
    }
    guard let last = lastIndex, index <= last else { return nil }
    // offset <= index <= last, so the position is inside `entries`.
    return entries[Int(index - offset)].term
  }

  /// Entries up to `index` (of `term`) became durable.
  mutating func stableTo(index: UInt64, term: UInt64) {
    // A stale report (the entries were replaced by a new leader's since the
    // Ready was taken) must not drop the newer, unsynced entries.
    guard index >= offset, let t = self.term(index), t == term else { return }
    entries.removeFirst(Int(index + 1 - offset))
    offset = index + 1
  }

  mutating func stableSnapTo(_ index: UInt64) {
    if let snap = snapshot, snap.metadata.index == index { snapshot = nil }
  }

  mutating func restore(_ snap: Raftpb_Snapshot) {
    offset = snap.metadata.index + 1
    entries = []
    snapshot = snap
  }

  mutating func truncateAndAppend(_ new: [Raftpb_Entry]) {
    let after = new[0].index
    if after == offset + UInt64(entries.count) {
      entries.append(contentsOf: new)
    } else if after <= offset {
      // The new entries replace all unstable ones (and possibly stable ones).
      offset = after
      entries = new
    } else {
      entries.removeSubrange(Int(after - offset)...)
      entries.append(contentsOf: new)
    }
  }
}

/// The Raft log as one sequence: durable entries in `MemoryStorage`, then
/// `Unstable` ones. Invariant: `applied <= committed <= lastIndex`.
struct RaftLog {
  let storage: MemoryStorage
  var unstable: Unstable
  /// Highest index known to be stored on a quorum.
  var committed: UInt64
  /// Highest index the caller has applied to its state machine.
  var applied: UInt64
  let maxEntriesSize: UInt64

  init(storage: MemoryStorage, maxEntriesSize: UInt64) {
    self.storage = storage
    self.maxEntriesSize = maxEntriesSize
    unstable = Unstable(offset: storage.lastIndex + 1)
    // The snapshot is applied and so committed; everything before it too.
    committed = storage.firstIndex - 1
    applied = storage.firstIndex - 1
  }

  var firstIndex: UInt64 {
    if let snap = unstable.snapshot { return snap.metadata.index + 1 }
    return storage.firstIndex
  }

  var lastIndex: UInt64 { unstable.lastIndex ?? storage.lastIndex }

  /// Last index whose entry is durable on this member.
  var stableIndex: UInt64 { unstable.offset - 1 }

  func term(_ index: UInt64) -> UInt64? {
    // The dummy entry before the first index still has a known term.
    guard index + 1 >= firstIndex, index <= lastIndex else { return nil }
    if let t = unstable.term(index) { return t }
    return try? storage.term(index)
  }

  var lastTerm: UInt64 {
    guard let t = term(lastIndex) else {
      preconditionFailure("term of last index \(lastIndex) unknown")
    }
    return t
  }

  func matchTerm(_ index: UInt64, _ term: UInt64) -> Bool {
    self.term(index) == term
  }

  /// Raft §5.4.1: a candidate's log is at least as up to date as ours if its
  /// last term is higher, or equal with an index at least as high.
  func isUpToDate(lastIndex index: UInt64, term: UInt64) -> Bool {
    term > lastTerm || (term == lastTerm && index >= lastIndex)
  }

  /// The index of the first entry that is new or conflicts with ours; 0 when
  /// every entry is already in the log.
  func findConflict(_ entries: [Raftpb_Entry]) -> UInt64 {
    for entry in entries where !matchTerm(entry.index, entry.term) {
      return entry.index
    }
    return 0
  }

  /// The largest index at or below `index` whose term is at most `term`:
  /// where a log with `term` at `index` can first agree with ours.
  func findConflictByTerm(_ index: UInt64, _ term: UInt64) -> UInt64 {
    var i = index
    while i > 0, let t = self.term(i), t > term {
      i -= 1
    }
    return i
  }

  /// Appends a leader's entries that follow `(index, logTerm)` if we hold that
  /// entry (§5.3 log matching). Returns the last index now known to match.
  mutating func maybeAppend(
    index: UInt64, logTerm: UInt64, committed leaderCommit: UInt64, entries: [Raftpb_Entry]
  ) -> UInt64? {
    guard matchTerm(index, logTerm) else { return nil }
    let lastNew = index + UInt64(entries.count)
    let conflict = findConflict(entries)
    if conflict != 0 {
      precondition(
        conflict > committed, "entry \(conflict) conflicts with committed entry (\(committed))")
      // conflict > index since entries start at index + 1.
      append(Array(entries[Int(conflict - index - 1)...]))
    }
    commitTo(min(leaderCommit, lastNew))
    return lastNew
  }

  @discardableResult
  mutating func append(_ entries: [Raftpb_Entry]) -> UInt64 {
    guard let first = entries.first else { return lastIndex }
    precondition(
      first.index > committed, "append at \(first.index) below committed \(committed)")
    unstable.truncateAndAppend(entries)
    return lastIndex
  }

  mutating func commitTo(_ index: UInt64) {
    guard index > committed else { return }
    precondition(index <= lastIndex, "commit \(index) past last index \(lastIndex)")
    committed = index
  }

  mutating func appliedTo(_ index: UInt64) {
    guard index != 0 else { return }
    precondition(
      index <= committed && index >= applied,
      "applied \(index) outside [\(applied), \(committed)]")
    applied = index
  }

  /// Commits `index` if it holds an entry of the current `term`: §5.4.2, a
  /// leader never commits an entry of an earlier term by counting replicas.
  mutating func maybeCommit(_ index: UInt64, term: UInt64) -> Bool {
    guard index > committed, self.term(index) == term else { return false }
    commitTo(index)
    return true
  }

  var unstableEntries: [Raftpb_Entry] { unstable.entries }

  /// Committed entries not yet applied. Every one is in this Ready's entries
  /// or already durable, and the caller persists before it applies.
  var nextEntries: [Raftpb_Entry] {
    let low = max(applied + 1, firstIndex)
    guard committed + 1 > low else { return [] }
    return (try? slice(low, committed + 1, maxSize: .max)) ?? []
  }

  var hasNextEntries: Bool { committed >= max(applied + 1, firstIndex) }

  /// Entries from `index` to the end, at most `maxEntriesSize` bytes.
  func entries(from index: UInt64) throws(LogReadError) -> [Raftpb_Entry] {
    if index > lastIndex { return [] }
    return try slice(index, lastIndex + 1, maxSize: maxEntriesSize)
  }

  func slice(_ low: UInt64, _ high: UInt64, maxSize: UInt64) throws(LogReadError)
    -> [Raftpb_Entry]
  {
    if low < firstIndex { throw .compacted }
    precondition(high <= lastIndex + 1, "slice [\(low), \(high)) past \(lastIndex)")
    if low == high { return [] }
    var result: [Raftpb_Entry] = []
    if low < unstable.offset {
      result = try storage.entries(low, min(high, unstable.offset), maxSize: maxSize)
      // Storage cut the range short on size: do not add unstable entries.
      if UInt64(result.count) < min(high, unstable.offset) - low { return result }
    }
    if high > unstable.offset {
      let from = max(low, unstable.offset)
      let part = unstable.entries[Int(from - unstable.offset)..<Int(high - unstable.offset)]
      result.append(contentsOf: part)
    }
    return limitSize(result, maxSize: maxSize)
  }

  /// The snapshot to send a follower: a pending unstable one or the stored one.
  func snapshot() throws(LogReadError) -> Raftpb_Snapshot {
    if let snap = unstable.snapshot { return snap }
    if storage.snapshot.metadata.index == 0 { throw .snapshotTemporarilyUnavailable }
    return storage.snapshot
  }

  mutating func restore(_ snap: Raftpb_Snapshot) {
    committed = snap.metadata.index
    unstable.restore(snap)
  }
}
