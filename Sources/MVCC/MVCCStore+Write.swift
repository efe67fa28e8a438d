import EtcdProto

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// What a logical write transaction produced.
public struct MVCCWriteResult<Value> {
  /// What the body returned.
  public var value: Value
  /// The store's revision afterwards: the transaction's own if it changed
  /// anything, else the unchanged current revision.
  public var revision: Int64
  /// The changes, for watchers (see `MVCCWriteTxn.events`).
  public var events: [Mvccpb_Event]
}

extension MVCCStore {
  /// Runs one logical write transaction. Inside an open batch it joins the
  /// batch's LMDB transaction; otherwise it commits one of its own.
  ///
  /// If `body` throws after changing something, the store is poisoned: the
  /// changes cannot be taken back out of the index. A body that throws
  /// before its first change leaves the store as it was (validate first, as
  /// etcd's server does before it applies a Txn).
  ///
  /// Write the body as `{ txn throws(MVCCError) in ... }`: Swift 6 infers
  /// `any Error` for a closure that throws unless told.
  ///
  /// - Throws: what `body` throws; `.closed`, `.poisoned`, `.lmdb`.
  @discardableResult
  public func write<Value>(_ body: (inout MVCCWriteTxn) throws(MVCCError) -> Value)
    throws(MVCCError) -> MVCCWriteResult<Value>
  {
    try checkUsable()
    precondition(!isWriting, "write transactions do not nest")
    return try withWriteTransaction { lmdb throws(MVCCError) in
      isWriting = true
      defer { isWriting = false }
      var txn = MVCCWriteTxn(store: self, lmdb: lmdb, beginRevision: currentRevision)
      let value: Value
      do throws(MVCCError) {
        value = try body(&txn)
      } catch {
        if !txn.events.isEmpty && poison == nil {
          poison = .poisoned(cause: "a write transaction failed after changing the index: \(error)")
        }
        throw error
      }
      if !txn.events.isEmpty { currentRevision = txn.revision }
      return MVCCWriteResult(value: value, revision: currentRevision, events: txn.events)
    }
  }

  /// One Put as its own write transaction; the value is the previous version.
  @discardableResult
  public func put(_ key: Data, value: Data, lease: Int64 = 0) throws(MVCCError)
    -> MVCCWriteResult<Mvccpb_KeyValue?>
  {
    try write { txn throws(MVCCError) in try txn.put(key, value: value, lease: lease) }
  }

  /// One DeleteRange as its own write transaction; the value is the deleted
  /// keys' last versions.
  @discardableResult
  public func deleteRange(_ key: Data, rangeEnd: Data = Data()) throws(MVCCError)
    -> MVCCWriteResult<[Mvccpb_KeyValue]>
  {
    try write { txn throws(MVCCError) in try txn.deleteRange(key, rangeEnd: rangeEnd) }
  }

  /// Records the raft index of the last entry applied. It is written in the
  /// same LMDB transaction as the writes of the open batch (or, with none
  /// open, committed at once), so the file never holds changes without the
  /// index that produced them, nor the index without its changes.
  public func setConsistentIndex(_ index: UInt64) throws(MVCCError) {
    try checkUsable()
    consistentIndex = index
    consistentIndexChanged = true
    if batch == nil { try withWriteTransaction { _ throws(MVCCError) in } }
  }

  /// Opens a batch: the writes, compaction steps and consistent index that
  /// follow share one LMDB write transaction until `commitBatch`. First grows
  /// the map if less than `Options.minimumFreeSpace` is left.
  public func beginBatch() throws(MVCCError) {
    try checkUsable()
    precondition(batch == nil, "a batch is already open")
    precondition(!isWriting, "beginBatch inside a write transaction")
    try environment.ensureFreeSpace(options.minimumFreeSpace)
    batch = try environment.beginWrite()
  }

  /// Commits the open batch, with the consistent index if it changed.
  ///
  /// - Throws: `.lmdb`; the store is then poisoned, since the batch's writes
  ///   are lost while the index holds them.
  public func commitBatch() throws(MVCCError) {
    try checkUsable()
    guard let open = batch else { preconditionFailure("no batch is open") }
    precondition(!isWriting, "commitBatch inside a write transaction")
    batch = nil
    try poisonOnFailure { () throws(MVCCError) in
      do throws(MVCCError) {
        if consistentIndexChanged {
          var bytes: [UInt8] = []
          Revision.appendBigEndian(consistentIndex, to: &bytes)
          try open.put(buckets.meta, MetaKey.consistentIndex, bytes)
        }
      } catch {
        open.abort()
        throw error
      }
      // The commit point: LMDB writes the data pages, then the meta page
      // that makes them current. Before the meta page lands, a crash leaves
      // the previous commit; after, this one, consistent index included.
      try open.commit()
    }
    consistentIndexChanged = false
  }

  /// Whether a batch is open.
  public var isBatchOpen: Bool { batch != nil }

  /// Runs `body` in the open batch's LMDB transaction, or in a batch of its
  /// own that commits when it returns. For the server's own buckets
  /// (`buckets.lease`, ...), whose writes then commit atomically with the
  /// batch; the key and meta buckets belong to this store.
  ///
  /// An `.lmdb` error out of `body` poisons the store: LMDB leaves a write
  /// transaction that failed a write unusable, and with it the batch.
  public func withWriteTransaction<Result>(_ body: (LMDBTransaction) throws(MVCCError) -> Result)
    throws(MVCCError) -> Result
  {
    try checkUsable()
    let ownBatch = batch == nil
    if ownBatch { try beginBatch() }
    let result: Result
    do throws(MVCCError) {
      result = try body(batch!)
    } catch {
      if case .lmdb = error, poison == nil { poison = .poisoned(cause: error.description) }
      if ownBatch {
        batch?.abort()
        batch = nil
      }
      throw error
    }
    if ownBatch { try commitBatch() }
    return result
  }
}
