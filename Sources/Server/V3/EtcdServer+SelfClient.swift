import EtcdProto
import Foundation
import Net
import SwiftProtobuf

/// Typed calls to this member's own gRPC services over its loopback
/// connection. The /v3 gateway, Lock and Election are built on them, as
/// etcd builds them on an in-process client: every step is an ordinary KV,
/// Lease or Watch call, with that call's checks and errors.
extension EtcdServer {
  /// The connection goes to the first client listener (its loopback
  /// address when it listens on all of them).
  private func loopbackClient() -> LoopbackGRPCClient? {
    if let loopback { return loopback }
    guard let bound = clientListeners.first?.localAddress else { return nil }
    let host = bound.host == "0.0.0.0" ? "127.0.0.1" : bound.host == "::" ? "::1" : bound.host
    guard let address = try? SocketAddress(host: host, port: bound.port) else { return nil }
    loopback = LoopbackGRPCClient(loop: loop, address: address)
    return loopback
  }

  /// Hands `body` the open loopback connection, or the status saying there
  /// is none (the member is stopping, or it cannot reach itself).
  func withLoopback(_ body: @escaping (Result<GRPCClientConnection, GRPCStatus>) -> Void) {
    guard let client = loopbackClient(), !stopping else {
      return body(.failure(Self.loopbackUnavailable))
    }
    client.withConnection { connection in
      body(connection.map { .success($0) } ?? .failure(Self.loopbackUnavailable))
    }
  }

  func selfCall<Response: Message>(
    _ method: String, _ request: some Message,
    _ done: @escaping (Result<Response, GRPCStatus>) -> Void
  ) {
    guard let bytes: [UInt8] = try? request.serializedBytes() else {
      return done(.failure(Self.loopbackUnavailable))
    }
    withLoopback { connection in
      switch connection {
      case .failure(let status): done(.failure(status))
      case .success(let connection):
        connection.unary(method, request: bytes) { result in
          done(
            result.flatMap { bytes in
              guard let response = try? Response(serializedBytes: bytes) else {
                return .failure(GRPCStatus(.internalError, "malformed \(method) response"))
              }
              return .success(response)
            })
        }
      }
    }
  }

  static let loopbackUnavailable = GRPCStatus(.unavailable, "transport is closing")

  /// Watches as `request` asks until `onResponse` returns true (then `done`
  /// gets nil) or the watch ends otherwise (`done` gets why). A watch the
  /// member cancels, its start compacted, say, ends it too.
  func selfWatch(
    _ request: Etcdserverpb_WatchCreateRequest, in scope: RecipeScope,
    onResponse: @escaping (Etcdserverpb_WatchResponse) -> Bool,
    done: @escaping (GRPCStatus?) -> Void
  ) {
    var create = Etcdserverpb_WatchRequest()
    create.createRequest = request
    guard let bytes: [UInt8] = try? create.serializedBytes() else {
      return done(Self.loopbackUnavailable)
    }
    withLoopback { opened in
      let connection: GRPCClientConnection
      switch opened {
      case .failure(let status): return done(status)
      case .success(let open): connection = open
      }
      var finished = false
      var watch: GRPCClientCall?
      var endHandler: Int?
      let finish = { (status: GRPCStatus?) in
        guard !finished else { return }
        finished = true
        // The scope's handler holds this closure, which holds `done` and
        // so the scope: dropping it breaks the cycle.
        if let endHandler { scope.removeHandler(endHandler) }
        watch?.cancel()
        done(status)
      }
      watch = connection.makeCall(
        "/etcdserverpb.Watch/Watch",
        onMessage: { bytes in
          guard let response = try? Etcdserverpb_WatchResponse(serializedBytes: bytes) else {
            return finish(GRPCStatus(.internalError, "malformed watch response"))
          }
          if response.canceled {
            let reason = response.cancelReason.isEmpty ? "watch canceled" : response.cancelReason
            return finish(GRPCStatus(.unknown, reason))
          }
          if onResponse(response) { finish(nil) }
        },
        onFinish: { status in finish(status.code == .ok ? GRPCStatus(.unknown, "EOF") : status) })
      watch?.send(bytes)
      endHandler = scope.onEnd { finish(GRPCStatus(.cancelled, "context canceled")) }
    }
  }

  /// Waits until no key under `prefix` created at or before
  /// `maxCreateRevision` is left: the newest such key is watched until it is
  /// deleted, then the next, as etcd's concurrency recipes wait their turn.
  /// Answers the header of the last range, which found none.
  func waitDeletes(
    prefix: Data, maxCreateRevision: Int64, in scope: RecipeScope,
    _ done: @escaping (Result<Etcdserverpb_ResponseHeader, GRPCStatus>) -> Void
  ) {
    var newest = Etcdserverpb_RangeRequest()
    newest.key = prefix
    newest.rangeEnd = Self.prefixEnd(prefix)
    newest.sortTarget = .create
    newest.sortOrder = .descend
    newest.limit = 1
    newest.maxCreateRevision = maxCreateRevision
    selfCall("/etcdserverpb.KV/Range", newest) {
      [weak self] (result: Result<Etcdserverpb_RangeResponse, GRPCStatus>) in
      guard let self, !scope.isOver else { return done(.failure(RecipeScope.ended)) }
      switch result {
      case .failure(let status): done(.failure(status))
      case .success(let response):
        guard let last = response.kvs.first else { return done(.success(response.header)) }
        var watch = Etcdserverpb_WatchCreateRequest()
        watch.key = last.key
        watch.startRevision = response.header.revision
        selfWatch(
          watch, in: scope,
          onResponse: { response in response.events.contains { $0.type == .delete } },
          done: { [weak self] status in
            if let status { return done(.failure(status)) }
            self?.waitDeletes(
              prefix: prefix, maxCreateRevision: maxCreateRevision, in: scope, done)
          })
      }
    }
  }

  /// The end of the range of keys that start with `prefix`.
  static func prefixEnd(_ prefix: Data) -> Data {
    var end = [UInt8](prefix)
    while let last = end.last {
      if last < 0xFF {
        end[end.count - 1] = last + 1
        return Data(end)
      }
      end.removeLast()
    }
    // All 0xFF (or empty): every key from the prefix on.
    return Data([0])
  }
}

/// The life of one Lock or Election call: it ends when the client goes
/// away or its deadline passes, and every step still waiting stops then.
final class RecipeScope {
  static let ended = GRPCStatus(.cancelled, "context canceled")
  private(set) var isOver = false
  private var handlers: [Int: () -> Void] = [:]
  private var nextHandler = 0

  init(_ call: GRPCServerCall) {
    call.onCancel = { [weak self] in self?.end() }
  }

  /// Runs `handler` when the scope ends (now if it has); the answer names
  /// it for `removeHandler`.
  @discardableResult
  func onEnd(_ handler: @escaping () -> Void) -> Int? {
    guard !isOver else {
      handler()
      return nil
    }
    nextHandler += 1
    handlers[nextHandler] = handler
    return nextHandler
  }

  func removeHandler(_ id: Int) {
    handlers[id] = nil
  }

  private func end() {
    guard !isOver else { return }
    isOver = true
    let ending = handlers.sorted { $0.key < $1.key }.map(\.value)
    handlers = [:]
    for handler in ending { handler() }
  }
}
