import EtcdProto
import Foundation
import Net
import SwiftProtobuf

/// The Lock service: etcd's mutex recipe, run by the member on its own KV,
/// Lease and Watch services. A lock is the key `<name>/<lease in hex>`
/// attached to the caller's lease; whoever's key under `<name>/` was
/// created first holds it, and the others wait for the keys created before
/// theirs to go.
extension EtcdServer {
  func registerLock(_ server: GRPCServer) {
    registerV3(
      server, "/v3lockpb.Lock/Lock",
      .unary { [unowned self] call, bytes in
        guard let request: V3lockpb_LockRequest = decode(call, bytes) else { return }
        lock(request, call)
      })
    registerV3(
      server, "/v3lockpb.Lock/Unlock",
      .unary { [unowned self] call, bytes in
        guard let request: V3lockpb_UnlockRequest = decode(call, bytes) else { return }
        deleteKey(request.key) { [weak self] result in
          self?.answer(
            call,
            result.map { deleted in
              var response = V3lockpb_UnlockResponse()
              response.header = deleted.header
              return response
            })
        }
      })
  }

  private func lock(_ request: V3lockpb_LockRequest, _ call: GRPCServerCall) {
    let scope = RecipeScope(call)
    let prefix = request.name + Data("/".utf8)
    enterQueue(
      prefix: prefix, lease: request.lease, value: Data(),
      alsoRead: [Self.firstCreated(under: prefix)], call, in: scope
    ) { [weak self] entry in
      guard let self else { return }
      var response = V3lockpb_LockResponse()
      response.key = entry.key
      let owner = entry.txn.responses[1].responseRange.kvs.first
      if owner == nil || owner?.createRevision == entry.revision {
        response.header = entry.txn.header
        return reply(call, response)
      }
      waitDeletes(prefix: prefix, maxCreateRevision: entry.revision - 1, in: scope) {
        [weak self] waited in
        guard let self else { return }
        switch waited {
        case .success(let header):
          response.header = header
          reply(call, response)
        case .failure(let status):
          // A waiter that gives up takes its key away, as etcd's does.
          deleteKey(entry.key) { _ in }
          fail(call, status)
        }
      }
    }
  }

  /// The first step of Lock and Campaign, as etcd's recipes take it: in
  /// the session's lease, one txn creates the key `<prefix><lease in hex>`
  /// holding `value`, or reads it if that lease made it before, and reads
  /// `alsoRead` after. A failure ends the call.
  func enterQueue(
    prefix: Data, lease requested: Int64, value: Data, alsoRead: [Etcdserverpb_RequestOp] = [],
    _ call: GRPCServerCall, in scope: RecipeScope, _ body: @escaping (QueueEntry) -> Void
  ) {
    withSession(lease: requested, in: scope) { [weak self] session in
      guard let self else { return }
      let lease: Int64
      switch session {
      case .success(let id): lease = id
      case .failure(let status): return fail(call, status)
      }
      let key = prefix + Data(String(UInt64(bitPattern: lease), radix: 16).utf8)
      var txn = Etcdserverpb_TxnRequest()
      txn.compare = [Self.createRevision(of: key, is: 0)]
      txn.success = [Self.put(key, value, lease: lease)] + alsoRead
      txn.failure = [Self.get(key)] + alsoRead
      selfCall("/etcdserverpb.KV/Txn", txn) {
        [weak self] (result: Result<Etcdserverpb_TxnResponse, GRPCStatus>) in
        switch result {
        case .success(let response): body(QueueEntry(key: key, lease: lease, txn: response))
        case .failure(let status): self?.fail(call, status)
        }
      }
    }
  }

  func deleteKey(
    _ key: Data, _ done: @escaping (Result<Etcdserverpb_DeleteRangeResponse, GRPCStatus>) -> Void
  ) {
    var delete = Etcdserverpb_DeleteRangeRequest()
    delete.key = key
    selfCall("/etcdserverpb.KV/DeleteRange", delete, done)
  }

  /// The lease a recipe's keys are attached to: the caller's, or, for 0, a
  /// new one of 60 s that nobody keeps alive (etcd's default session,
  /// orphaned at once).
  func withSession(
    lease: Int64, in scope: RecipeScope, _ body: @escaping (Result<Int64, GRPCStatus>) -> Void
  ) {
    guard lease == 0 else { return body(.success(lease)) }
    var grant = Etcdserverpb_LeaseGrantRequest()
    grant.ttl = 60
    selfCall("/etcdserverpb.Lease/LeaseGrant", grant) {
      (result: Result<Etcdserverpb_LeaseGrantResponse, GRPCStatus>) in
      guard !scope.isOver else { return body(.failure(RecipeScope.ended)) }
      body(result.map(\.id))
    }
  }

  /// Replies with a recipe's answer, or fails as `fail` does.
  func answer(_ call: GRPCServerCall, _ result: Result<some SwiftProtobuf.Message, GRPCStatus>) {
    switch result {
    case .success(let response): reply(call, response)
    case .failure(let status): fail(call, status)
    }
  }

  /// Ends a recipe's call with the message one of its steps failed with,
  /// unless its client already went away. The code is Unknown, as etcd's:
  /// its recipes return their client's errors, which gRPC does not know.
  func fail(_ call: GRPCServerCall, _ status: GRPCStatus) {
    guard !call.isFinished, !call.isCancelled else { return }
    call.finish(status: .unknown, message: status.message)
  }

  static func createRevision(of key: Data, is revision: Int64) -> Etcdserverpb_Compare {
    var compare = Etcdserverpb_Compare()
    compare.key = key
    compare.target = .create
    compare.result = .equal
    compare.createRevision = revision
    return compare
  }

  static func put(_ key: Data, _ value: Data, lease: Int64) -> Etcdserverpb_RequestOp {
    var op = Etcdserverpb_RequestOp()
    op.requestPut.key = key
    op.requestPut.value = value
    op.requestPut.lease = lease
    return op
  }

  static func get(_ key: Data) -> Etcdserverpb_RequestOp {
    var op = Etcdserverpb_RequestOp()
    op.requestRange.key = key
    return op
  }

  static func delete(_ key: Data) -> Etcdserverpb_RequestOp {
    var op = Etcdserverpb_RequestOp()
    op.requestDeleteRange.key = key
    return op
  }

  /// The key under `prefix` created first: the holder of a lock or an
  /// election.
  static func firstCreated(under prefix: Data) -> Etcdserverpb_RequestOp {
    var op = Etcdserverpb_RequestOp()
    op.requestRange.key = prefix
    op.requestRange.rangeEnd = prefixEnd(prefix)
    op.requestRange.sortTarget = .create
    op.requestRange.sortOrder = .ascend
    op.requestRange.limit = 1
    return op
  }
}

/// A Lock or Campaign call's key in its queue, as `enterQueue` left it.
struct QueueEntry {
  let key: Data
  let lease: Int64
  /// The txn that made or read `key`; what it also read follows its first
  /// answer.
  let txn: Etcdserverpb_TxnResponse

  /// The key as it was, if this lease had made it already.
  var existing: Mvccpb_KeyValue? {
    txn.succeeded ? nil : txn.responses.first?.responseRange.kvs.first
  }

  /// When the key was created: its place in the queue.
  var revision: Int64 { existing?.createRevision ?? txn.header.revision }
}
