import EtcdProto

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

extension MVCCStore {
  /// The changes of the revisions from `first` through `last` (the current
  /// revision if nil), oldest first, read from the key bucket: what a
  /// watcher that fell behind is sent to catch up. A PUT carries the stored
  /// key-value; a DELETE the key with mod_revision set to the deleting
  /// revision. Neither carries `prevKv`; a watcher that wants it reads the key
  /// at mod_revision - 1, as etcd's watch server does.
  ///
  /// - Throws: `.compacted` if `first` is below the compacted revision (a
  ///   deletion at the compacted revision itself is gone too, as in etcd);
  ///   `.closed`, `.poisoned`, `.lmdb`, `.corrupt`.
  public func changes(from first: Int64, through last: Int64? = nil) throws(MVCCError)
    -> [Mvccpb_Event]
  {
    try checkUsable()
    if first < compactRevision { throw .compacted }
    let last = last ?? currentRevision
    var events: [Mvccpb_Event] = []
    try withReadView { txn throws(MVCCError) in
      try txn.forEach(buckets.key, from: Revision(main: max(first, 0)).bytes()) {
        key, value throws(MVCCError) in
        guard let (revision, tombstone) = Revision.parse(key) else {
          throw .corrupt(reason: "key bucket holds a \(key.count)-byte key that is not a revision")
        }
        guard revision.main <= last else { return false }
        var event = Mvccpb_Event()
        event.kv = try Self.decode(Data(value), at: revision)
        if tombstone {
          event.type = .delete
          event.kv.modRevision = revision.main
        }
        events.append(event)
        return true
      }
    }
    return events
  }
}
