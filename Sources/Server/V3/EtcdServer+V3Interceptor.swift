import EtcdProto
import Net

/// What etcd 3.4's gRPC interceptors check before any v3 handler runs.
///
/// A learner serves only Status and serializable Ranges; every other v3
/// call, streams included, gets Unavailable "etcdserver: rpc not supported
/// for learner", so clients move on to a voting member.
///
/// A call carrying the metadata `hasleader: true` (clientv3's
/// WithRequireLeader, which `etcdctl watch` uses) is refused with
/// "etcdserver: no leader" while the member knows no leader; such a
/// stream already open is ended the same way once the member has gone
/// `maxElectionsWithoutLeader` election timeouts without one, so that a
/// client on a cut-off member notices.
extension EtcdServer {
  static let maxElectionsWithoutLeader = 3

  /// Registers `handler` for `path` behind the interceptors' checks.
  func registerV3(_ server: GRPCServer, _ path: String, _ handler: GRPCServer.Handler) {
    server.register(path, intercepted(path, handler))
  }

  /// Called every tick: counts ticks without a leader and ends the streams
  /// that require one when there have been too many.
  func checkLeaderRequiredStreams() {
    ticksWithoutLeader = leaderID == 0 ? ticksWithoutLeader + 1 : 0
    let election = electionTicks
    ticksSincePrune += 1
    if ticksSincePrune >= election {
      ticksSincePrune = 0
      leaderRequiredStreams.removeAll { $0.isFinished || $0.isCancelled }
    }
    guard ticksWithoutLeader >= election * Self.maxElectionsWithoutLeader else { return }
    let streams = leaderRequiredStreams
    leaderRequiredStreams = []
    let status = GRPCStatus(V3Error.noLeader.code, V3Error.noLeader.message)
    for call in streams { call.terminate(status) }
  }

  private func refusal(_ path: String, _ call: GRPCServerCall, _ bytes: [UInt8]?) -> V3Error? {
    if servesAsLearner && !Self.learnerServes(path, bytes) { return .learnerNotSupported }
    if call.metadata["hasleader"] == "true" && leaderID == 0 { return .noLeader }
    return nil
  }

  private var servesAsLearner: Bool { members[memberID]?.isLearner ?? false }

  private func intercepted(_ path: String, _ handler: GRPCServer.Handler) -> GRPCServer.Handler {
    switch handler {
    case .unary(let body):
      return .unary { [unowned self] call, bytes in
        if let refusal = refusal(path, call, bytes) { return fail(call, refusal) }
        body(call, bytes)
      }
    case .serverStreaming(let body):
      return .serverStreaming { [unowned self] call, bytes in
        if let refusal = refusal(path, call, nil) { return fail(call, refusal) }
        noteLeaderRequirement(call)
        body(call, bytes)
      }
    case .clientStreaming(let body):
      return .clientStreaming { [unowned self] call in
        if let refusal = refusal(path, call, nil) { return fail(call, refusal) }
        noteLeaderRequirement(call)
        body(call)
      }
    case .bidiStreaming(let body):
      return .bidiStreaming { [unowned self] call in
        if let refusal = refusal(path, call, nil) { return fail(call, refusal) }
        noteLeaderRequirement(call)
        body(call)
      }
    }
  }

  private func noteLeaderRequirement(_ call: GRPCServerCall) {
    if call.metadata["hasleader"] == "true" { leaderRequiredStreams.append(call) }
  }

  /// An undecodable Range is let through, for its handler to refuse as
  /// undecodable, as grpc-go decodes before etcd's interceptor runs.
  /// Streams are never served to a learner (`bytes` nil).
  private static func learnerServes(_ path: String, _ bytes: [UInt8]?) -> Bool {
    guard let bytes else { return false }
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
