import EtcdProto
import MVCC
import Net
import SwiftProtobuf

/// The KV service on the client port's gRPC server: requests are checked
/// as etcd checks them, writes go through the log and are answered once
/// applied, serializable ranges read the local store, linearizable ones
/// wait for a ReadIndex first.
extension EtcdServer {
  /// etcd's allowance for gRPC framing above `--max-request-bytes`: the
  /// largest message it accepts, and the size watch fragments stay under.
  static let grpcOverheadBytes = 512 * 1024

  func startGRPC() -> GRPCServer {
    var configuration = GRPCServer.Configuration()
    // etcd's gRPC limit: the request limit plus room for the envelope.
    configuration.maxReceiveMessageBytes = config.maxRequestBytes + Self.grpcOverheadBytes
    configuration.http2.maxConcurrentStreams = config.maxConcurrentStreams
    configuration.http2.minPeerPingIntervalMs =
      config.grpcKeepaliveMinTimeMs == 0 ? 300_000 : config.grpcKeepaliveMinTimeMs
    // etcd sets the pair only when both are given; otherwise grpc-go's
    // defaults hold for both.
    let keepalive =
      config.grpcKeepaliveIntervalMs > 0 && config.grpcKeepaliveTimeoutMs > 0
      ? (config.grpcKeepaliveIntervalMs, config.grpcKeepaliveTimeoutMs) : (7_200_000, 20_000)
    configuration.http2.keepaliveIntervalMs = max(1000, keepalive.0)
    configuration.http2.keepaliveTimeoutMs = keepalive.1
    let server = GRPCServer(loop: loop, configuration: configuration)
    registerV3(
      server, "/etcdserverpb.KV/Range", .unary { [unowned self] call, bytes in range(call, bytes) })
    registerV3(
      server, "/etcdserverpb.KV/Put",
      .unary { [unowned self] call, bytes in
        proposeV3(call, bytes, cost: SpaceQuota.cost) {
          (request: Etcdserverpb_PutRequest) throws(V3Error) in
          try V3RequestChecks.check(request)
          var proposal = Swetcdpb_InternalRequest()
          proposal.put = request
          return proposal
        }
      })
    registerV3(
      server, "/etcdserverpb.KV/DeleteRange",
      .unary { [unowned self] call, bytes in
        proposeV3(call, bytes) { (request: Etcdserverpb_DeleteRangeRequest) throws(V3Error) in
          try V3RequestChecks.check(request)
          var proposal = Swetcdpb_InternalRequest()
          proposal.deleteRange = request
          return proposal
        }
      })
    registerV3(
      server, "/etcdserverpb.KV/Txn",
      .unary { [unowned self] call, bytes in
        proposeV3(call, bytes, cost: SpaceQuota.cost) {
          (request: Etcdserverpb_TxnRequest) throws(V3Error) in
          try V3RequestChecks.check(request, maxOps: config.maxTxnOps)
          var proposal = Swetcdpb_InternalRequest()
          proposal.txn = request
          return proposal
        }
      })
    registerV3(
      server, "/etcdserverpb.KV/Compact",
      .unary { [unowned self] call, bytes in
        proposeV3(call, bytes) { (request: Etcdserverpb_CompactionRequest) throws(V3Error) in
          var proposal = Swetcdpb_InternalRequest()
          proposal.compaction = request
          return proposal
        }
      })
    registerClusterAndMaintenance(server)
    registerBackend(server)
    registerWatch(server)
    registerLease(server)
    registerLock(server)
    registerElection(server)
    registerGRPCHealth(server)
    return server
  }

  private func range(_ call: GRPCServerCall, _ bytes: [UInt8]) {
    guard let request: Etcdserverpb_RangeRequest = decode(call, bytes) else { return }
    do throws(V3Error) {
      try V3RequestChecks.check(request)
    } catch {
      return fail(call, error)
    }
    let read = { [weak self] in
      guard let self, let mvcc else { return }
      do throws(V3Error) {
        var response = try V3KV.range(request) { k, e, r, l, c throws(MVCCError) in
          try mvcc.range(k, rangeEnd: e, revision: r, limit: l, countOnly: c)
        }
        let revision = response.header.revision
        response.header = responseHeader()
        response.header.revision = revision
        reply(call, response)
      } catch {
        fail(call, error)
      }
    }
    if request.serializable {
      read()
    } else {
      awaitReadIndex { [weak self] error in
        if let error { self?.fail(call, error) } else { read() }
      }
    }
  }

  /// Decodes, checks and proposes a write; answers once it is applied.
  /// A request whose `cost` does not fit the space quota is refused before
  /// any other check, and raises the NOSPACE alarm, as etcd's quota layer
  /// in front of its KV and Lease services does.
  func proposeV3<Request: SwiftProtobuf.Message>(
    _ call: GRPCServerCall, _ bytes: [UInt8], cost: (Request) -> Int = { _ in 0 },
    _ make: (Request) throws(V3Error) -> Swetcdpb_InternalRequest
  ) {
    guard let request: Request = decode(call, bytes) else { return }
    guard quota.fits(cost: cost(request), dbSize: backendSize) else {
      return raiseNoSpace { [weak self] in self?.fail(call, .noSpace) }
    }
    let proposal: Swetcdpb_InternalRequest
    do throws(V3Error) {
      proposal = try make(request)
    } catch {
      return fail(call, error)
    }
    let entrySize = V3RequestChecks.etcdEntrySize(requestBytes: bytes.count, memberID: memberID)
    if entrySize > config.maxRequestBytes { return fail(call, .requestTooLarge) }
    let id = propose(proposal, timeoutMs: Self.requestTimeoutMs) { [weak self] result in
      guard let self else { return }
      switch result {
      case .v3(.success(let answer)):
        var response = answer
        response.header = responseHeader()
        reply(call, response)
      case .v3(.failure(let error)):
        fail(call, error)
      case .failed(let reason):
        fail(call, V3Error(code: .unavailable, message: reason))
      case .timedOut(let timeout):
        fail(call, V3Error(timeout))
      default:
        fail(call, .stopped)
      }
    }
    expireAtDeadline(call, proposal: id)
  }

  /// How deep request messages may nest: gogoproto sets no limit, and
  /// etcd takes txns nested up to --max-txn-ops levels (two messages each,
  /// a txn and its op), then refuses the next level for its op budget. The
  /// raft entry wrapping a request adds one level.
  var requestDecodingOptions: BinaryDecodingOptions {
    var options = BinaryDecodingOptions()
    options.messageDepthLimit = 2 * (config.maxTxnOps + 1) + 8
    return options
  }

  func decode<Request: SwiftProtobuf.Message>(_ call: GRPCServerCall, _ bytes: [UInt8])
    -> Request?
  {
    switch V3Error.decode(bytes, options: requestDecodingOptions) as Result<Request, V3Error> {
    case .success(let request): return request
    case .failure(let error):
      fail(call, error)
      return nil
    }
  }

  func reply(_ call: GRPCServerCall, _ response: some SwiftProtobuf.Message) {
    guard !call.isFinished, !call.isCancelled else { return }
    call.respond((try? response.serializedBytes()) ?? [])
  }

  func fail(_ call: GRPCServerCall, _ error: V3Error) {
    guard !call.isFinished, !call.isCancelled else { return }
    call.finish(status: error.code, message: error.message)
  }
}
