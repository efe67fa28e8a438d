import EtcdProto

/// The checks etcd makes on a KV request before it is proposed, so a bad
/// request is refused with etcd's error and never reaches the log.
enum V3RequestChecks {
  static func check(_ request: Etcdserverpb_RangeRequest) throws(V3Error) {
    if request.key.isEmpty { throw .emptyKey }
    // Values outside the enums arrive as UNRECOGNIZED. etcd 3.4 checks
    // neither: an unknown order sorts nothing, and an unknown target it
    // has to sort by stops the member. That one is refused here, with
    // etcd 3.5's error.
    if case .UNRECOGNIZED = request.sortTarget, V3KV.sorts(request.sortOrder) {
      throw .invalidSortOption
    }
  }

  static func check(_ request: Etcdserverpb_PutRequest) throws(V3Error) {
    if request.key.isEmpty { throw .emptyKey }
    if request.ignoreValue && !request.value.isEmpty { throw .valueProvided }
    if request.ignoreLease && request.lease != 0 { throw .leaseProvided }
  }

  /// The size of the raft entry etcd 3.4 writes for a write request of
  /// `requestBytes` on member `memberID`: the request inside an
  /// InternalRaftRequest (a field numbered under 16) beside a header that
  /// holds only the request ID. etcd refuses a request whose entry is over
  /// --max-request-bytes, so the same requests are refused here, whatever
  /// swetcd's own entry looks like.
  static func etcdEntrySize(requestBytes: Int, memberID: UInt64) -> Int {
    func varintSize(_ value: UInt64) -> Int { max(1, (64 - value.leadingZeroBitCount + 6) / 7) }
    // etcd's request IDs put the member ID's low 16 bits above 48 bits of
    // clock and counter; only when those 16 bits are all zero does the
    // clock decide the size, taken then as its usual 7 bytes.
    let idSize = varintSize((memberID & 0xFFFF) << 48 | 1 << 47)
    // Header: field 100's two-byte tag, its length, the ID's tag and value.
    let header = 2 + 1 + 1 + idSize
    return header + 1 + varintSize(UInt64(requestBytes)) + requestBytes
  }

  static func check(_ request: Etcdserverpb_DeleteRangeRequest) throws(V3Error) {
    if request.key.isEmpty { throw .emptyKey }
  }

  /// At most `maxOps` compares and ops per branch, every op valid, and no
  /// key written twice in one branch. A nested txn gets, as in etcd, only
  /// the budget its level left: `maxOps` less the level's largest count.
  static func check(_ request: Etcdserverpb_TxnRequest, maxOps: Int) throws(V3Error) {
    let count = max(request.compare.count, request.success.count, request.failure.count)
    if count > maxOps { throw .tooManyOps }
    for compare in request.compare where compare.key.isEmpty { throw .emptyKey }
    for op in request.success + request.failure { try check(op, maxOps: maxOps - count) }
    _ = try writes(of: request.success)
    _ = try writes(of: request.failure)
  }

  private static func check(_ op: Etcdserverpb_RequestOp, maxOps: Int) throws(V3Error) {
    switch op.request {
    case .requestRange(let range): try check(range)
    case .requestPut(let put): try check(put)
    case .requestDeleteRange(let delete): try check(delete)
    case .requestTxn(let txn): try check(txn, maxOps: maxOps)
    // etcd's answer to an op that names no request.
    case nil: throw .keyNotFound
    }
  }

  /// What one branch writes: the keys it puts and the ranges it deletes.
  struct Writes {
    var puts: Set<[UInt8]> = []
    var deletes: [KeyInterval] = []

    func deletes(_ key: [UInt8]) -> Bool {
      deletes.contains { $0.contains(key) }
    }
  }

  /// Refuses a branch that would write one key twice: a key put twice, or
  /// put and also deleted (deleted ranges may overlap one another). The
  /// ranges of this level are known first; nested txns are then taken in
  /// order, and their writes count against everything seen before them,
  /// except that a nested txn's two branches may write the same key, since
  /// only one of them runs. This level's puts come last.
  static func writes(of ops: [Etcdserverpb_RequestOp]) throws(V3Error) -> Writes {
    var seen = Writes()
    for op in ops {
      if case .requestDeleteRange(let delete) = op.request {
        seen.deletes.append(KeyInterval(key: Array(delete.key), rangeEnd: Array(delete.rangeEnd)))
      }
    }
    for op in ops {
      guard case .requestTxn(let txn) = op.request else { continue }
      let then = try writes(of: txn.success)
      let otherwise = try writes(of: txn.failure)
      for key in then.puts {
        if seen.puts.contains(key) || seen.deletes(key) { throw .duplicateKey }
        seen.puts.insert(key)
      }
      for key in otherwise.puts {
        if seen.puts.contains(key) && !then.puts.contains(key) { throw .duplicateKey }
        if seen.deletes(key) { throw .duplicateKey }
        seen.puts.insert(key)
      }
      seen.deletes += then.deletes + otherwise.deletes
    }
    for op in ops {
      guard case .requestPut(let put) = op.request else { continue }
      let key = Array(put.key)
      if seen.puts.contains(key) || seen.deletes(key) { throw .duplicateKey }
      seen.puts.insert(key)
    }
    return seen
  }
}

/// A v3 key range: one key when `rangeEnd` is empty, every key from `key`
/// on when it is "\0", else [key, rangeEnd).
struct KeyInterval: Equatable {
  var key: [UInt8]
  var rangeEnd: [UInt8]

  func contains(_ candidate: [UInt8]) -> Bool {
    if rangeEnd.isEmpty { return candidate == key }
    guard !candidate.lexicographicallyPrecedes(key) else { return false }
    if rangeEnd == [0] { return true }
    return candidate.lexicographicallyPrecedes(rangeEnd)
  }
}
