import EtcdProto
import Net
import SwiftProtobuf

/// The Lease service. Grants and revokes go through the log; keepalives
/// and expiry are the leader's (a lease expires when the leader's clock
/// says so, and the leader then proposes its revocation).
extension EtcdServer {
  static let leaseCheckIntervalMs: UInt64 = 500

  func registerLease(_ server: GRPCServer) {
    registerV3(
      server, "/etcdserverpb.Lease/LeaseGrant",
      .unary { [unowned self] call, bytes in
        proposeV3(call, bytes, cost: { _ in SpaceQuota.leaseOverhead }) {
          [unowned self] (request: Etcdserverpb_LeaseGrantRequest) throws(V3Error) in
          if request.ttl > Lessor.maxTTL { throw .leaseTTLTooLarge }
          var grant = request
          if grant.id == 0 { grant.id = nextLeaseID() }
          var proposal = Swetcdpb_InternalRequest()
          proposal.leaseGrant = grant
          return proposal
        }
      })
    registerV3(
      server, "/etcdserverpb.Lease/LeaseRevoke",
      .unary { [unowned self] call, bytes in
        proposeV3(call, bytes) { (request: Etcdserverpb_LeaseRevokeRequest) throws(V3Error) in
          var proposal = Swetcdpb_InternalRequest()
          proposal.leaseRevoke = request
          return proposal
        }
      })
    registerV3(
      server, "/etcdserverpb.Lease/LeaseTimeToLive",
      .unary { [unowned self] call, bytes in
        guard let request: Etcdserverpb_LeaseTimeToLiveRequest = decode(call, bytes) else { return }
        let answer = {
          [weak self] (result: Result<Etcdserverpb_LeaseTimeToLiveResponse, V3Error>) in
          guard let self else { return }
          switch result {
          case .success(var response):
            response.header = responseHeader()
            reply(call, response)
          case .failure(.leaseNotFound):
            var response = Etcdserverpb_LeaseTimeToLiveResponse()
            response.header = responseHeader()
            response.id = request.id
            response.ttl = -1
            reply(call, response)
          case .failure(let error):
            fail(call, error)
          }
        }
        guard isLeader else {
          return forwardToLeader(
            Self.leaseTimeToLivePath, request,
            isAbandoned: { call.isFinished || call.isCancelled }, completion: answer)
        }
        answer(timeToLiveOnLeader(request))
      })
    registerV3(
      server, "/etcdserverpb.Lease/LeaseLeases",
      .unary { [unowned self] call, _ in
        var response = Etcdserverpb_LeaseLeasesResponse()
        response.header = responseHeader()
        response.leases = lessor.leases.keys.sorted().map { id in
          var status = Etcdserverpb_LeaseStatus()
          status.id = id
          return status
        }
        reply(call, response)
      })
    registerV3(
      server, "/etcdserverpb.Lease/LeaseKeepAlive",
      .bidiStreaming { [unowned self] call in
        let queue = KeepAliveQueue()
        call.onMessage = { [weak self] bytes in
          guard let self, !call.isFinished else { return }
          guard let request: Etcdserverpb_LeaseKeepAliveRequest = decode(call, bytes) else {
            return
          }
          // A client that keeps sending and never reads would grow the
          // queue without end; etcd's stream would block it instead.
          guard queue.pending.count < Self.maxQueuedKeepAlives else {
            return fail(call, .tooManyRequests)
          }
          queue.pending.append(request.id)
          renewNext(call, queue)
        }
        call.onWritable = { [weak self] in self?.renewNext(call, queue) }
        // Keepalives still queued or forwarded are answered first.
        call.onHalfClose = { [weak self] in
          queue.isHalfClosed = true
          self?.renewNext(call, queue)
        }
      })
  }

  /// Keepalives one stream may have waiting for their turn.
  static let maxQueuedKeepAlives = 1024

  /// Keepalives of one stream are answered in order, one at a time, as
  /// etcd's are: a forwarded one may take a while. None is renewed while
  /// the client leaves earlier answers unread.
  private func renewNext(_ call: GRPCServerCall, _ queue: KeepAliveQueue) {
    guard !queue.isBusy, !call.isFinished, !call.isCancelled, call.isWritable else { return }
    guard !queue.pending.isEmpty else {
      if queue.isHalfClosed { call.finish() }
      return
    }
    let id = queue.pending.removeFirst()
    queue.isBusy = true
    let answer = { [weak self] (result: Result<Etcdserverpb_LeaseKeepAliveResponse, V3Error>) in
      guard let self else { return }
      queue.isBusy = false
      var response = Etcdserverpb_LeaseKeepAliveResponse()
      switch result {
      case .success(let renewed): response.ttl = renewed.ttl
      // etcd tells a client that its lease is gone with a TTL of 0.
      case .failure(.leaseNotFound): response.ttl = 0
      case .failure(let error): return fail(call, error)
      }
      response.header = responseHeader()
      response.id = id
      guard !call.isFinished, !call.isCancelled else { return }
      call.send((try? response.serializedBytes()) ?? [])
      renewNext(call, queue)
    }
    guard isLeader else {
      var request = Etcdserverpb_LeaseKeepAliveRequest()
      request.id = id
      return forwardToLeader(
        Self.leasesPath, request, isAbandoned: { call.isFinished || call.isCancelled },
        completion: answer)
    }
    answer(renewOnLeader(id))
  }

  /// A keepalive on the leader, from a client or forwarded by a follower.
  func renewOnLeader(_ id: Int64) -> Result<Etcdserverpb_LeaseKeepAliveResponse, V3Error> {
    guard isLeader else { return .failure(.notLeader) }
    guard let ttl = lessor.renew(id, now: ServerClock.monotonicNanoseconds()) else {
      return .failure(.leaseNotFound)
    }
    var response = Etcdserverpb_LeaseKeepAliveResponse()
    response.id = id
    response.ttl = ttl
    return .success(response)
  }

  /// TimeToLive on the leader, whose clock is the one that counts; the
  /// header is the answering member's to fill.
  func timeToLiveOnLeader(_ request: Etcdserverpb_LeaseTimeToLiveRequest)
    -> Result<Etcdserverpb_LeaseTimeToLiveResponse, V3Error>
  {
    guard isLeader else { return .failure(.notLeader) }
    guard let lease = lessor.leases[request.id] else { return .failure(.leaseNotFound) }
    var response = Etcdserverpb_LeaseTimeToLiveResponse()
    response.id = request.id
    response.ttl = lessor.remaining(request.id, now: ServerClock.monotonicNanoseconds())
    response.grantedTtl = lease.ttl
    if request.keys, let mvcc, let keys = try? Lessor.keys(attachedTo: request.id, in: mvcc) {
      response.keys = keys
    }
    return .success(response)
  }

  /// The leader revokes what expired; every member keeps checking, since
  /// any may become leader.
  func startLeaseExpiry() {
    leaseTimer = LoopTimer.every(Self.leaseCheckIntervalMs, on: loop) { [weak self] in
      guard let self, isLeader else { return }
      for id in lessor.expired(now: ServerClock.monotonicNanoseconds())
      where !revoking.contains(id) {
        revoking.insert(id)
        var proposal = Swetcdpb_InternalRequest()
        proposal.leaseRevoke.id = id
        propose(proposal, timeoutMs: Self.requestTimeoutMs) { [weak self] _ in
          self?.revoking.remove(id)
        }
      }
    }
  }

  /// A lease ID nobody has: positive, unique per member and time, as
  /// etcd's request ID generator makes them.
  func nextLeaseID() -> Int64 {
    leaseIDCounter &+= 1
    let stamp = UInt64(ServerClock.wallNanoseconds() / 1_000_000) & 0xFF_FFFF_FFFF
    let id = (memberID & 0xFFFF) << 48 | stamp << 8 | (leaseIDCounter & 0xFF)
    return Int64(bitPattern: id & (1 << 63 - 1))
  }
}

/// The keepalives a stream has sent and not yet had answered.
private final class KeepAliveQueue {
  var pending: [Int64] = []
  var isBusy = false
  var isHalfClosed = false
}
