import CLMDB

/// A read or write transaction. Lent to closures by `LMDBEnvironment.read`,
/// or owned by whoever called `beginWrite` until `commit` or `abort`; must
/// not be used after either, nor from two threads at once.
public struct LMDBTransaction {
  let handle: OpaquePointer
  public let isReadOnly: Bool

  /// Calls `body` with the value stored under `key`, or returns nil if there
  /// is none. The bytes live in the map: copy what must outlive `body`.
  public func value<Result>(
    _ bucket: LMDBBucket, _ key: [UInt8],
    _ body: (UnsafeRawBufferPointer) throws(MVCCError) -> Result
  ) throws(MVCCError) -> Result? {
    var found = MDB_val()
    let code = key.withUnsafeBytes { keyBytes in
      var keyValue = LMDBTransaction.val(keyBytes)
      return mdb_get(handle, bucket.dbi, &keyValue, &found)
    }
    if code == MDB_NOTFOUND { return nil }
    try LMDB.check(code, "mdb_get \(bucket.name)")
    return try body(UnsafeRawBufferPointer(start: found.mv_data, count: found.mv_size))
  }

  /// A copy of the value stored under `key`.
  public func get(_ bucket: LMDBBucket, _ key: [UInt8]) throws(MVCCError) -> [UInt8]? {
    try value(bucket, key) { Array($0) }
  }

  /// Stores `value` under `key`, replacing any value there.
  ///
  /// - Throws: `.lmdb` with `MDB_MAP_FULL` when the map has no room left,
  ///   `MDB_TXN_FULL` when the transaction has too many dirty pages; either
  ///   leaves the transaction unusable but for `abort`.
  public func put(_ bucket: LMDBBucket, _ key: [UInt8], _ value: [UInt8]) throws(MVCCError) {
    let code = key.withUnsafeBytes { keyBytes in
      value.withUnsafeBytes { valueBytes in
        var keyValue = LMDBTransaction.val(keyBytes)
        var dataValue = LMDBTransaction.val(valueBytes)
        return mdb_put(handle, bucket.dbi, &keyValue, &dataValue, 0)
      }
    }
    try LMDB.check(code, "mdb_put \(bucket.name)")
  }

  /// Deletes `key`; returns whether it was there.
  @discardableResult
  public func delete(_ bucket: LMDBBucket, _ key: [UInt8]) throws(MVCCError) -> Bool {
    let code = key.withUnsafeBytes { keyBytes in
      var keyValue = LMDBTransaction.val(keyBytes)
      return mdb_del(handle, bucket.dbi, &keyValue, nil)
    }
    if code == MDB_NOTFOUND { return false }
    try LMDB.check(code, "mdb_del \(bucket.name)")
    return true
  }

  /// Runs `body` with a cursor on `bucket`, closed when `body` returns.
  public func withCursor<Result>(
    _ bucket: LMDBBucket, _ body: (inout LMDBCursor) throws(MVCCError) -> Result
  ) throws(MVCCError) -> Result {
    var cursor: OpaquePointer?
    try LMDB.check(mdb_cursor_open(handle, bucket.dbi, &cursor), "mdb_cursor_open \(bucket.name)")
    defer { mdb_cursor_close(cursor) }
    var wrapped = LMDBCursor(handle: cursor!, bucketName: bucket.name)
    return try body(&wrapped)
  }

  /// Calls `body` with each key and value from the first key >= `start`, in
  /// key order, until it returns false or the bucket ends.
  public func forEach(
    _ bucket: LMDBBucket, from start: [UInt8] = [],
    _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws(MVCCError) -> Bool
  ) throws(MVCCError) {
    try withCursor(bucket) { cursor throws(MVCCError) in
      var entry = start.isEmpty ? try cursor.first() : try cursor.seek(atOrAfter: start)
      while case (let key, let value)? = entry {
        guard try body(key, value) else { return }
        entry = try cursor.next()
      }
    }
  }

  /// Makes the transaction's writes visible (and, per the environment's
  /// durability, flushed). The handle is freed whatever the outcome.
  public func commit() throws(MVCCError) {
    try LMDB.check(mdb_txn_commit(handle), "mdb_txn_commit")
  }

  /// Discards the transaction's writes, or ends a read.
  public func abort() {
    mdb_txn_abort(handle)
  }

  /// LMDB takes non-const pointers but does not write through keys and
  /// values passed in.
  static func val(_ bytes: UnsafeRawBufferPointer) -> MDB_val {
    MDB_val(mv_size: bytes.count, mv_data: UnsafeMutableRawPointer(mutating: bytes.baseAddress))
  }
}

/// A position in one bucket. Entries it returns are borrowed like values
/// from `LMDBTransaction.value`.
public struct LMDBCursor {
  public typealias Entry = (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)

  let handle: OpaquePointer
  let bucketName: String

  /// Moves to the first entry.
  public mutating func first() throws(MVCCError) -> Entry? {
    var key = MDB_val()
    var data = MDB_val()
    return try entry(mdb_cursor_get(handle, &key, &data, MDB_FIRST), key, data)
  }

  /// Moves to the first entry whose key is >= `key`.
  public mutating func seek(atOrAfter key: [UInt8]) throws(MVCCError) -> Entry? {
    // LMDB reads the key only during the call, and then points `found` at
    // the key in the map.
    var found = MDB_val()
    var data = MDB_val()
    let code = key.withUnsafeBytes { bytes in
      found = LMDBTransaction.val(bytes)
      return mdb_cursor_get(handle, &found, &data, MDB_SET_RANGE)
    }
    return try entry(code, found, data)
  }

  /// Moves to the next entry.
  public mutating func next() throws(MVCCError) -> Entry? {
    var key = MDB_val()
    var data = MDB_val()
    return try entry(mdb_cursor_get(handle, &key, &data, MDB_NEXT), key, data)
  }

  private func entry(_ code: Int32, _ key: MDB_val, _ data: MDB_val) throws(MVCCError) -> Entry? {
    if code == MDB_NOTFOUND { return nil }
    try LMDB.check(code, "mdb_cursor_get \(bucketName)")
    return (
      UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size),
      UnsafeRawBufferPointer(start: data.mv_data, count: data.mv_size)
    )
  }
}
