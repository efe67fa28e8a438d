import EtcdProto
import MVCC

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// etcd's v3 KV semantics over the MVCC store: how a Range is fetched,
/// filtered, sorted and limited, and how Put, DeleteRange and Txn change
/// the store inside one write transaction (one revision). Pure: the server
/// supplies the store and fills in the response headers.
enum V3KV {
  typealias Fetch = (
    _ key: Data, _ rangeEnd: Data, _ revision: Int64, _ limit: Int, _ countOnly: Bool
  ) throws(MVCCError) -> RangeResult

  static func range(_ request: Etcdserverpb_RangeRequest, fetch: Fetch) throws(V3Error)
    -> Etcdserverpb_RangeResponse
  {
    let filters =
      request.minModRevision != 0 || request.maxModRevision != 0
      || request.minCreateRevision != 0 || request.maxCreateRevision != 0
    // Sorting and filtering need every match; otherwise one more than the
    // limit tells whether there is more.
    var limit = Int(clamping: request.limit)
    if request.sortOrder != .none || filters { limit = 0 }
    if limit > 0 { limit += 1 }
    let result: RangeResult
    do {
      result = try fetch(
        request.key, request.rangeEnd, request.revision, limit, request.countOnly)
    } catch {
      throw V3Error(error)
    }
    var kvs = result.kvs.filter { kv in
      (request.minModRevision == 0 || kv.modRevision >= request.minModRevision)
        && (request.maxModRevision == 0 || kv.modRevision <= request.maxModRevision)
        && (request.minCreateRevision == 0 || kv.createRevision >= request.minCreateRevision)
        && (request.maxCreateRevision == 0 || kv.createRevision <= request.maxCreateRevision)
    }
    var order = request.sortOrder
    if request.sortTarget != .key && order == .none { order = .ascend }
    if order == .ascend || order == .descend {
      kvs = sorted(kvs, by: request.sortTarget, descending: order == .descend)
    }
    var response = Etcdserverpb_RangeResponse()
    if request.limit > 0 && kvs.count > request.limit {
      kvs = Array(kvs.prefix(Int(request.limit)))
      response.more = true
    }
    if request.keysOnly {
      for index in kvs.indices { kvs[index].value = Data() }
    }
    response.kvs = kvs
    response.count = Int64(result.count)
    response.header.revision = result.revision
    return response
  }

  /// Whether a range with `order` is sorted by its target: an order
  /// outside the enum sorts nothing, as in etcd 3.4.
  static func sorts(_ order: Etcdserverpb_RangeRequest.SortOrder) -> Bool {
    switch order {
    case .none, .ascend, .descend: true
    case .UNRECOGNIZED: false
    }
  }

  /// A stable sort on the comparison, reversed for descending order, so
  /// ties keep key order either way. etcd sorts with Go's sort.Sort on the
  /// reversed comparison, an insertion sort (so stable) up to 12 keys;
  /// beyond that the order of its ties is Go's pdqsort's and unspecified.
  private static func sorted(
    _ kvs: [Mvccpb_KeyValue], by target: Etcdserverpb_RangeRequest.SortTarget, descending: Bool
  ) -> [Mvccpb_KeyValue] {
    let keyed = kvs.enumerated().map { ($0.offset, $0.element) }
    func less(_ x: Mvccpb_KeyValue, _ y: Mvccpb_KeyValue) -> Bool {
      let (a, b) = descending ? (y, x) : (x, y)
      return switch target {
      case .key: a.key.lexicographicallyPrecedes(b.key)
      case .version: a.version < b.version
      case .create: a.createRevision < b.createRevision
      case .mod: a.modRevision < b.modRevision
      case .value: a.value.lexicographicallyPrecedes(b.value)
      case .UNRECOGNIZED: false
      }
    }
    return keyed.sorted { x, y in
      if less(x.1, y.1) { return true }
      if less(y.1, x.1) { return false }
      return x.0 < y.0
    }.map(\.1)
  }

  static func put(
    _ request: Etcdserverpb_PutRequest, _ txn: inout MVCCWriteTxn,
    leaseExists: (Int64) -> Bool
  ) throws(V3Error) -> Etcdserverpb_PutResponse {
    if request.lease != 0 && !leaseExists(request.lease) { throw .leaseNotFound }
    var value = request.value
    var lease = request.lease
    if request.ignoreValue || request.ignoreLease || request.prevKv {
      let current: RangeResult
      do {
        current = try txn.range(request.key)
      } catch {
        throw V3Error(error)
      }
      if request.ignoreValue || request.ignoreLease {
        guard let existing = current.kvs.first else { throw .keyNotFound }
        if request.ignoreValue { value = existing.value }
        if request.ignoreLease { lease = existing.lease }
      }
    }
    var response = Etcdserverpb_PutResponse()
    do {
      if let previous = try txn.put(request.key, value: value, lease: lease), request.prevKv {
        response.prevKv = previous
      }
    } catch {
      throw V3Error(error)
    }
    // Inside a txn this header is all the sub-response carries; the server
    // replaces it with the full one on a plain Put.
    response.header.revision = txn.revision
    return response
  }

  static func deleteRange(_ request: Etcdserverpb_DeleteRangeRequest, _ txn: inout MVCCWriteTxn)
    throws(V3Error) -> Etcdserverpb_DeleteRangeResponse
  {
    var response = Etcdserverpb_DeleteRangeResponse()
    do {
      let deleted = try txn.deleteRange(request.key, rangeEnd: request.rangeEnd)
      response.deleted = Int64(deleted.count)
      if request.prevKv { response.prevKvs = deleted }
    } catch {
      throw V3Error(error)
    }
    // etcd's revision of a delete that removed nothing, in a txn that has
    // changed nothing yet, is the one before the txn.
    response.header.revision = txn.events.isEmpty ? txn.beginRevision : txn.revision
    return response
  }

  /// Whether every request of both branches is a range (a nested txn does
  /// not count as one): etcd serves such a txn from the store, without the
  /// log or the appliers that alarms put in front of it.
  static func isReadOnly(_ request: Etcdserverpb_TxnRequest) -> Bool {
    (request.success + request.failure).allSatisfy {
      if case .requestRange = $0.request { true } else { false }
    }
  }

  /// The branches a txn takes: each compare (nested ones included) is
  /// evaluated against the state before the txn, as etcd does, in the
  /// order `txn` will consume them. The operations on the chosen path are
  /// checked here too, so a txn is refused before it changes anything,
  /// never halfway: first every put (lease exists, key exists for
  /// ignore_value/ignore_lease), then every range's revision against the
  /// store before the txn (`current`, `compacted`), in etcd's order.
  static func path(
    _ request: Etcdserverpb_TxnRequest, current: Int64, compacted: Int64,
    compare: ([Etcdserverpb_Compare]) throws(MVCCError) -> Bool,
    keyExists: (Data) throws(MVCCError) -> Bool, leaseExists: (Int64) -> Bool
  ) throws(V3Error) -> [Bool] {
    let path = try decisions(request, compare: compare)
    var remaining = path[...]
    let ops = operations(request, path: &remaining)
    for case .requestPut(let put) in ops.map(\.request) {
      if put.lease != 0 && !leaseExists(put.lease) { throw .leaseNotFound }
      if put.ignoreValue || put.ignoreLease {
        let exists: Bool
        do {
          exists = try keyExists(put.key)
        } catch {
          throw V3Error(error)
        }
        if !exists { throw .keyNotFound }
      }
    }
    for case .requestRange(let range) in ops.map(\.request) where range.revision != 0 {
      if range.revision > current { throw .futureRevision }
      if range.revision < compacted { throw .compacted }
    }
    return path
  }

  private static func decisions(
    _ request: Etcdserverpb_TxnRequest, compare: ([Etcdserverpb_Compare]) throws(MVCCError) -> Bool
  ) throws(V3Error) -> [Bool] {
    let succeeded: Bool
    do {
      succeeded = try compare(request.compare)
    } catch {
      throw V3Error(error)
    }
    var path = [succeeded]
    for case .requestTxn(let nested) in (succeeded ? request.success : request.failure).map(
      \.request)
    {
      path += try decisions(nested, compare: compare)
    }
    return path
  }

  /// The operations `path` chose, nested txns' included, in order.
  private static func operations(
    _ request: Etcdserverpb_TxnRequest, path: inout ArraySlice<Bool>
  ) -> [Etcdserverpb_RequestOp] {
    let succeeded = path.popFirst() ?? false
    var ops: [Etcdserverpb_RequestOp] = []
    for op in succeeded ? request.success : request.failure {
      if case .requestTxn(let nested) = op.request {
        ops += operations(nested, path: &path)
      } else {
        ops.append(op)
      }
    }
    return ops
  }

  /// Runs the branches `path` chose, nested txns included, all at one
  /// revision.
  static func txn(
    _ request: Etcdserverpb_TxnRequest, path: inout ArraySlice<Bool>, _ txn: inout MVCCWriteTxn,
    leaseExists: (Int64) -> Bool
  ) throws(V3Error) -> Etcdserverpb_TxnResponse {
    let succeeded = path.popFirst() ?? false
    var response = Etcdserverpb_TxnResponse()
    // etcd sends a nested txn's header empty but present; the top one gets
    // the server's.
    response.header = Etcdserverpb_ResponseHeader()
    response.succeeded = succeeded
    for op in succeeded ? request.success : request.failure {
      var answer = Etcdserverpb_ResponseOp()
      switch op.request {
      case .requestRange(let range):
        let reader = txn
        answer.responseRange = try Self.range(range) { k, e, r, l, c throws(MVCCError) in
          try reader.range(k, rangeEnd: e, revision: r, limit: l, countOnly: c)
        }
      case .requestPut(let put):
        answer.responsePut = try Self.put(put, &txn, leaseExists: leaseExists)
      case .requestDeleteRange(let delete):
        answer.responseDeleteRange = try deleteRange(delete, &txn)
      case .requestTxn(let nested):
        answer.responseTxn = try Self.txn(
          nested, path: &path, &txn, leaseExists: leaseExists)
      case nil:
        break
      }
      response.responses.append(answer)
    }
    return response
  }
}

extension V3Error {
  /// The two MVCC errors clients see get etcd's statuses; anything else is
  /// the store failing, which etcd reports as an internal error.
  init(_ error: MVCCError) {
    switch error {
    case .compacted: self = .compacted
    case .futureRevision: self = .futureRevision
    default: self = V3Error(code: .unavailable, message: "etcdserver: \(error)")
    }
  }
}
