import EtcdProto
import Net

/// What a learner serves: as etcd 3.4's interceptors, only Status and
/// serializable Ranges; every other v3 call, streams included, gets
/// Unavailable "etcdserver: rpc not supported for learner", so clients
/// move on to a voting member.
extension EtcdServer {
  /// Registers `handler` for `path` behind the learner check.
  func registerV3(_ server: GRPCServer, _ path: String, _ handler: GRPCServer.Handler) {
    server.register(path, learnerChecked(path, handler))
  }

  private var servesAsLearner: Bool { members[memberID]?.isLearner ?? false }

  private func learnerChecked(_ path: String, _ handler: GRPCServer.Handler)
    -> GRPCServer.Handler
  {
    switch handler {
    case .unary(let body):
      return .unary { [unowned self] call, bytes in
        if servesAsLearner && !Self.learnerServes(path, bytes) {
          return fail(call, .learnerNotSupported)
        }
        body(call, bytes)
      }
    case .serverStreaming(let body):
      return .serverStreaming { [unowned self] call, bytes in
        if servesAsLearner { return fail(call, .learnerNotSupported) }
        body(call, bytes)
      }
    case .clientStreaming(let body):
      return .clientStreaming { [unowned self] call in
        if servesAsLearner { return fail(call, .learnerNotSupported) }
        body(call)
      }
    case .bidiStreaming(let body):
      return .bidiStreaming { [unowned self] call in
        if servesAsLearner { return fail(call, .learnerNotSupported) }
        body(call)
      }
    }
  }

  /// An undecodable Range is let through, for its handler to refuse as
  /// undecodable, as grpc-go decodes before etcd's interceptor runs.
  private static func learnerServes(_ path: String, _ bytes: [UInt8]) -> Bool {
    switch path {
    case "/etcdserverpb.Maintenance/Status":
      return true
    case "/etcdserverpb.KV/Range":
      guard let request = try? Etcdserverpb_RangeRequest(serializedBytes: bytes) else {
        return true
      }
      return request.serializable
    default:
      return false
    }
  }
}
