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
        var response = Etcdserverpb_LeaseTimeToLiveResponse()
        response.header = responseHeader()
        response.id = request.id
        response.ttl = lessor.remaining(request.id, now: ServerClock.monotonicNanoseconds())
        if let lease = lessor.leases[request.id] {
          response.grantedTtl = lease.ttl
          if request.keys, let mvcc, let keys = try? Lessor.keys(attachedTo: request.id, in: mvcc) {
            response.keys = keys
          }
        }
        reply(call, response)
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
        call.onMessage = { [weak self] bytes in
          guard let self, !call.isFinished else { return }
          guard let request: Etcdserverpb_LeaseKeepAliveRequest = decode(call, bytes) else {
            return
          }
          // Only the leader's clock counts; a follower would need to forward
          // the keepalive, which is not done yet (issue 4).
          guard isLeader else { return fail(call, .notLeader) }
          var response = Etcdserverpb_LeaseKeepAliveResponse()
          response.header = responseHeader()
          response.id = request.id
          response.ttl = lessor.renew(request.id, now: ServerClock.monotonicNanoseconds()) ?? 0
          guard !call.isFinished, !call.isCancelled else { return }
          call.send((try? response.serializedBytes()) ?? [])
        }
        call.onHalfClose = { call.finish() }
      })
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
