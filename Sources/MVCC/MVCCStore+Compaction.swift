/// The key-bucket side of a compaction: which rows at or below `revision`
/// stay, and where the next step resumes.
struct CompactionJob {
  let revision: Int64
  /// Rows to keep among those at or below `revision` (see `KeyIndex.compact`).
  let keep: Set<Revision>
  /// The next step starts at the first row key >= this.
  var next: [UInt8]
}

extension MVCCStore {
  /// Compacts history up to `revision`, as etcd's Compact: afterwards reads
  /// below `revision` fail with `.compacted`, and each key keeps only its
  /// version as of `revision` (none if it was deleted by then) plus every
  /// later one.
  ///
  /// This call records the compaction in the meta bucket (in the open batch,
  /// or committed at once) and compacts the in-memory index; the rows go in
  /// `compactStep` calls. A compaction asked for while another is still
  /// running replaces it: its scan starts over, and removes what both would.
  ///
  /// - Throws: `.compacted` if `revision` <= `compactRevision`,
  ///   `.futureRevision` if it is above `currentRevision`; `.closed`,
  ///   `.poisoned`, `.lmdb`.
  public func compact(_ revision: Int64) throws(MVCCError) {
    try checkUsable()
    precondition(!isWriting, "compaction inside a write transaction")
    if revision <= compactRevision { throw .compacted }
    if revision > currentRevision { throw .futureRevision }
    // Crash safety: the schedule reaches the file no later than the first
    // deleted row, so a restart that finds rows missing also finds the
    // compaction to finish (open compacts the rebuilt index the same way).
    try withWriteTransaction { txn throws(MVCCError) in
      try txn.put(buckets.meta, MetaKey.scheduledCompact, Revision(main: revision).bytes())
    }
    compactRevision = revision
    compaction = CompactionJob(revision: revision, keep: index.compact(at: revision), next: [])
  }

  /// The revision of the compaction whose rows are still being removed.
  public var pendingCompaction: Int64? { compaction?.revision }

  /// Removes the compacted rows among the next `maxRows` rows of the key
  /// bucket (in the open batch, or committing its own LMDB transaction, as
  /// etcd commits every 1000 rows), so that other work can run in between.
  /// The step that reaches the end records the compaction as finished.
  ///
  /// - Returns: true once no compaction is pending.
  /// - Throws: `.closed`, `.poisoned`, `.lmdb`, `.corrupt`.
  @discardableResult
  public func compactStep(maxRows: Int = 1000) throws(MVCCError) -> Bool {
    try checkUsable()
    precondition(maxRows > 0, "maxRows must be positive, got \(maxRows)")
    guard var job = compaction else { return true }
    let finished = try withWriteTransaction { txn throws(MVCCError) -> Bool in
      var doomed: [[UInt8]] = []
      var scanned = 0
      var reachedEnd = true
      try txn.forEach(buckets.key, from: job.next) { key, _ throws(MVCCError) in
        guard let (revision, _) = Revision.parse(key) else {
          throw .corrupt(reason: "key bucket holds a \(key.count)-byte key that is not a revision")
        }
        guard revision.main <= job.revision else { return false }
        guard scanned < maxRows else {
          reachedEnd = false
          return false
        }
        scanned += 1
        // Every later row key is greater than this key followed by a zero byte.
        job.next = Array(key) + [0]
        if !job.keep.contains(revision) { doomed.append(Array(key)) }
        return true
      }
      for key in doomed { try txn.delete(buckets.key, key) }
      if reachedEnd {
        try txn.put(buckets.meta, MetaKey.finishedCompact, Revision(main: job.revision).bytes())
      }
      return reachedEnd
    }
    compaction = finished ? nil : job
    return finished
  }
}
