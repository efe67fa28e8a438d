import Storage

/// The answer to HashKV.
public struct HashKVResult: Equatable, Sendable {
  /// CRC-32C of the history up to the revision asked for (see `hashKV`).
  public var hash: UInt32
  /// The store's current revision when hashed (the response header's).
  public var revision: Int64
  /// The compacted revision then (-1 if never compacted).
  public var compactRevision: Int64
}

extension MVCCStore {
  /// etcd's HashKV: a checksum that members with the same history agree on,
  /// to detect a corrupt or diverged member.
  ///
  /// What is hashed, in order: the bucket name "key"; then for each row of
  /// the key bucket in revision order whose main revision is <= `revision`,
  /// its key (the 17-byte revision, plus "t" for a tombstone) and its value
  /// (the encoded `Mvccpb_KeyValue`). Rows at or below the compacted
  /// revision count only if they hold the version of some key that
  /// compacting at `revision` would keep, so rows a pending compaction has
  /// yet to remove do not change the hash; as in etcd, that filter is
  /// skipped when compacting at `revision` would keep nothing at all.
  ///
  /// - Parameter revision: 0 for the current revision.
  /// - Throws: `.compacted` if `revision` is positive and <= the compacted
  ///   revision (unlike reads, which may read at it); `.futureRevision` if it
  ///   is above the current revision; `.closed`, `.poisoned`, `.lmdb`.
  public func hashKV(revision: Int64 = 0) throws(MVCCError) -> HashKVResult {
    try checkUsable()
    let compacted = compactRevision
    let current = currentRevision
    if revision > 0 && revision <= compacted { throw .compacted }
    if revision > current { throw .futureRevision }
    let upTo = revision == 0 ? current : revision
    let keep = index.keep(at: upTo)
    var crc = CRC32C.update(0, Array(buckets.key.name.utf8))
    try withReadView { txn throws(MVCCError) in
      try txn.forEach(buckets.key) { key, value throws(MVCCError) in
        guard let (row, _) = Revision.parse(key) else {
          throw .corrupt(reason: "key bucket holds a \(key.count)-byte key that is not a revision")
        }
        guard row.main <= upTo else { return false }
        if row.main <= compacted && !keep.isEmpty && !keep.contains(row) { return true }
        crc = CRC32C.update(crc, key)
        crc = CRC32C.update(crc, value)
        return true
      }
    }
    return HashKVResult(hash: crc, revision: current, compactRevision: compacted)
  }
}
