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
    if order != .none {
      let ascending = sortedAscending(kvs, by: request.sortTarget)
      kvs = order == .descend ? ascending.reversed() : ascending
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

  /// A stable sort, so equal targets keep key order as etcd's does.
  private static func sortedAscending(
    _ kvs: [Mvccpb_KeyValue], by target: Etcdserverpb_RangeRequest.SortTarget
  ) -> [Mvccpb_KeyValue] {
    let keyed = kvs.enumerated().map { ($0.offset, $0.element) }
    func less(_ a: Mvccpb_KeyValue, _ b: Mvccpb_KeyValue) -> Bool {
      switch target {
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
  /// order `txn` will consume them. The puts on the chosen path are checked
  /// here too (lease exists, key exists for ignore_value/ignore_lease), so
  /// a txn is refused before it changes anything, never halfway.
  static func path(
    _ request: Etcdserverpb_TxnRequest, compare: ([Etcdserverpb_Compare]) throws(MVCCError) -> Bool,
    keyExists: (Data) throws(MVCCError) -> Bool, leaseExists: (Int64) -> Bool
  ) throws(V3Error) -> [Bool] {
    let succeeded: Bool
    do {
      succeeded = try compare(request.compare)
    } catch {
      throw V3Error(error)
    }
    var path = [succeeded]
    for op in succeeded ? request.success : request.failure {
      switch op.request {
      case .requestPut(let put):
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
      case .requestTxn(let nested):
        path += try Self.path(
          nested, compare: compare, keyExists: keyExists, leaseExists: leaseExists)
      default:
        break
      }
    }
    return path
  }

  /// Runs the branches `path` chose, nested txns included, all at one
  /// revision.
  static func txn(
    _ request: Etcdserverpb_TxnRequest, path: inout ArraySlice<Bool>, _ txn: inout MVCCWriteTxn,
    leaseExists: (Int64) -> Bool
  ) throws(V3Error) -> Etcdserverpb_TxnResponse {
    let succeeded = path.popFirst() ?? false
    var response = Etcdserverpb_TxnResponse()
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
