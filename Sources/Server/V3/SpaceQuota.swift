import EtcdProto

/// etcd 3.4's backend space quota: a request that would store data is
/// refused when the backend file plus an estimate of what the request adds
/// reaches the quota. The estimate is etcd's: 256 bytes of key metadata
/// plus key and value per put (a txn counts the puts of its costlier
/// branch, not those of nested txns), 64 bytes per lease grant; anything
/// else costs nothing and always passes.
struct SpaceQuota {
  static let defaultBytes: Int64 = 2 << 30
  /// Above this etcd warns that performance may suffer, and still uses it.
  static let suggestedMaximumBytes: Int64 = 8 << 30
  static let keyOverhead = 256
  static let leaseOverhead = 64

  /// nil: no quota (a negative --quota-backend-bytes).
  let limit: Int64?

  /// `configured` is --quota-backend-bytes: 0 means the default, negative none.
  init(configured: Int64) {
    if configured < 0 {
      limit = nil
    } else {
      limit = configured == 0 ? Self.defaultBytes : configured
    }
  }

  /// Whether a request costing `cost` fits beside a backend of `dbSize`
  /// bytes; the size is read only for a request that costs something.
  func fits(cost: Int, dbSize: @autoclosure () -> Int64) -> Bool {
    guard let limit, cost > 0 else { return true }
    return dbSize() + Int64(cost) < limit
  }

  static func cost(_ request: Swetcdpb_InternalRequest) -> Int {
    switch request.request {
    case .put(let put): cost(put)
    case .txn(let txn): cost(txn)
    case .leaseGrant: leaseOverhead
    default: 0
    }
  }

  static func cost(_ put: Etcdserverpb_PutRequest) -> Int {
    keyOverhead + put.key.count + put.value.count
  }

  static func cost(_ txn: Etcdserverpb_TxnRequest) -> Int {
    func puts(_ ops: [Etcdserverpb_RequestOp]) -> Int {
      ops.reduce(0) { sum, op in
        if case .requestPut(let put) = op.request { sum + cost(put) } else { sum }
      }
    }
    return max(puts(txn.success), puts(txn.failure))
  }
}
