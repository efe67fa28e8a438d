import EtcdProto

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Rebuilding the in-memory state from the file at open.
enum Restore {
  struct State {
    var index: KeyIndex
    var consistentIndex: UInt64
    /// -1 if no compaction ever finished.
    var finishedCompact: Int64
    /// nil if none was ever scheduled.
    var scheduledCompact: Int64?
    /// Main revision of the newest row, 1 if there is none.
    var lastRevision: Int64
  }

  static func load(_ txn: LMDBTransaction, buckets: MVCCBuckets) throws(MVCCError) -> State {
    let consistentIndex = try txn.value(buckets.meta, MetaKey.consistentIndex) {
      bytes throws(MVCCError) -> UInt64 in
      guard bytes.count == 8 else {
        throw .corrupt(reason: "consistent index of \(bytes.count) bytes")
      }
      return Revision.readBigEndian(bytes, at: 0)
    }
    let finished = try compactRevision(txn, buckets.meta, MetaKey.finishedCompact)
    let scheduled = try compactRevision(txn, buckets.meta, MetaKey.scheduledCompact)
    let (index, lastRevision) = try rebuildIndex(txn, buckets.key)
    return State(
      index: index, consistentIndex: consistentIndex ?? 0, finishedCompact: finished ?? -1,
      scheduledCompact: scheduled, lastRevision: lastRevision)
  }

  private static func compactRevision(_ txn: LMDBTransaction, _ meta: LMDBBucket, _ key: [UInt8])
    throws(MVCCError) -> Int64?
  {
    try txn.value(meta, key) { bytes throws(MVCCError) -> Int64 in
      guard let (revision, _) = Revision.parse(bytes) else {
        throw .corrupt(reason: "\(String(decoding: key, as: UTF8.self)) is not a revision")
      }
      return revision.main
    }
  }

  /// Replays the rows in revision order into key histories. A key's oldest
  /// surviving row restores its generation with the create revision and
  /// version stored in the value, so a compacted history comes back exactly
  /// as compaction left it in memory.
  private static func rebuildIndex(_ txn: LMDBTransaction, _ bucket: LMDBBucket) throws(MVCCError)
    -> (KeyIndex, Int64)
  {
    var histories: [Data: KeyHistory] = [:]
    var lastRevision: Int64 = 1
    try txn.forEach(bucket) { key, value throws(MVCCError) in
      guard let (revision, tombstone) = Revision.parse(key) else {
        throw .corrupt(reason: "key bucket holds a \(key.count)-byte key that is not a revision")
      }
      lastRevision = revision.main
      let kv = try MVCCStore.decode(Data(value), at: revision)
      if var history = histories[kv.key] {
        if tombstone {
          // Deletes only ever end a live generation, and compaction removes
          // a key's rows oldest first, so anything else is damage.
          guard history.isLive else {
            throw .corrupt(reason: "tombstone at \(revision) ends no life")
          }
          history.tombstone(revision)
        } else {
          history.put(revision)
        }
        histories[kv.key] = history
      } else if !tombstone {
        histories[kv.key] = KeyHistory(
          restoring: revision, created: kv.createRevision, version: kv.version)
      }
      // A tombstone as a key's oldest row: compaction was interrupted after
      // deleting the generation it ended, and will delete it too.
      return true
    }
    let keys = histories.keys.sorted(by: KeyOrder.less)
    return (KeyIndex(sortedKeys: keys, histories: keys.map { histories[$0]! }), lastRevision)
  }
}
