import EtcdProto

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// One logical write transaction: every change in it shares the main
/// revision `beginRevision + 1`. Lent to the body of `MVCCStore.write`.
///
/// Reads inside see the transaction's own changes, as etcd's write
/// transactions do. The server's Txn runs its compares and then its ops in
/// one of these, so that they all see one state and produce one revision.
public struct MVCCWriteTxn {
  let store: MVCCStore
  let lmdb: LMDBTransaction
  /// The store's revision when the transaction began.
  public let beginRevision: Int64
  /// The changes so far, in order, for watchers: a PUT carries the new
  /// key-value, a DELETE the key with mod_revision set to the deleting
  /// revision (as etcd sends it); both carry `prevKv`, the key's version
  /// before the change, when it had one.
  public private(set) var events: [Mvccpb_Event] = []

  init(store: MVCCStore, lmdb: LMDBTransaction, beginRevision: Int64) {
    self.store = store
    self.lmdb = lmdb
    self.beginRevision = beginRevision
  }

  /// The revision this transaction's changes get.
  public var revision: Int64 { beginRevision + 1 }

  /// The revision reads inside stand at: the transaction's own once it has
  /// changed something.
  var readRevision: Int64 { events.isEmpty ? beginRevision : revision }

  /// As `MVCCStore.range`, seeing this transaction's changes.
  public func range(
    _ key: Data, rangeEnd: Data = Data(), revision: Int64 = 0, limit: Int = 0,
    countOnly: Bool = false
  ) throws(MVCCError) -> RangeResult {
    try store.rangeKeys(
      lmdb, key, rangeEnd, revision: revision, current: readRevision, limit: limit,
      countOnly: countOnly)
  }

  /// As `MVCCStore.compare`, seeing this transaction's changes.
  public func compare(_ compares: [Etcdserverpb_Compare]) throws(MVCCError) -> Bool {
    for compare in compares where try !store.evaluate(compare, lmdb, current: readRevision) {
      return false
    }
    return true
  }

  /// Puts `value` under `key`: version one more than the key's (1 if it is
  /// absent or deleted), create revision kept from the live key or set to
  /// this revision.
  ///
  /// - Returns: the key's previous version, nil if it did not exist.
  /// - Throws: `.lmdb` (the store is then poisoned).
  @discardableResult
  public mutating func put(_ key: Data, value: Data, lease: Int64 = 0) throws(MVCCError)
    -> Mvccpb_KeyValue?
  {
    let change = Revision(main: revision, sub: Int64(events.count))
    // At this revision, so that an earlier change to the key in this same
    // transaction counts.
    let live = store.index.history(key)?.get(at: revision)
    var kv = Mvccpb_KeyValue()
    kv.key = key
    kv.value = value
    kv.createRevision = live?.created ?? revision
    kv.modRevision = revision
    kv.version = (live?.version ?? 0) + 1
    kv.lease = lease
    var event = Mvccpb_Event()
    event.type = .put
    if let live { event.prevKv = try store.readRow(lmdb, live.modified) }
    try store.writeRow(lmdb, change, tombstone: false, kv)
    store.index.put(key, at: change)
    event.kv = kv
    events.append(event)
    return live == nil ? nil : event.prevKv
  }

  /// Deletes every key of the range (same forms as `range`) that exists.
  ///
  /// - Returns: the deleted keys' last versions, in key order.
  /// - Throws: `.lmdb` (the store is then poisoned).
  @discardableResult
  public mutating func deleteRange(_ key: Data, rangeEnd: Data = Data()) throws(MVCCError)
    -> [Mvccpb_KeyValue]
  {
    var doomed: [Revision] = []
    try store.visitLive(key, rangeEnd, at: readRevision) { live in
      doomed.append(live)
      return true
    }
    var deleted: [Mvccpb_KeyValue] = []
    deleted.reserveCapacity(doomed.count)
    for live in doomed {
      let previous = try store.readRow(lmdb, live)
      let change = Revision(main: revision, sub: Int64(events.count))
      var tombstone = Mvccpb_KeyValue()
      tombstone.key = previous.key
      try store.writeRow(lmdb, change, tombstone: true, tombstone)
      store.index.tombstone(previous.key, at: change)
      tombstone.modRevision = revision
      var event = Mvccpb_Event()
      event.type = .delete
      event.kv = tombstone
      event.prevKv = previous
      events.append(event)
      deleted.append(previous)
    }
    return deleted
  }
}
