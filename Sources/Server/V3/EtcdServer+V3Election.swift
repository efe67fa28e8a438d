import EtcdProto
import Foundation
import Net
import SwiftProtobuf

/// The Election service: etcd's election recipe, run by the member on its
/// own KV, Lease and Watch services. A candidate is the key
/// `<name>/<lease in hex>` holding its value; the one created first leads,
/// and the others wait, as Lock's waiters do, for the keys before theirs.
extension EtcdServer {
  static let notLeader = GRPCStatus(.unknown, "election: not leader")
  static let noLeader = GRPCStatus(.unknown, "election: no leader")
  static let missingLeaderKey = GRPCStatus(.unknown, "\"leader\" field must be provided")

  func registerElection(_ server: GRPCServer) {
    registerV3(
      server, "/v3electionpb.Election/Campaign",
      .unary { [unowned self] call, bytes in
        guard let request: V3electionpb_CampaignRequest = decode(call, bytes) else { return }
        campaign(request, call)
      })
    registerV3(
      server, "/v3electionpb.Election/Proclaim",
      .unary { [unowned self] call, bytes in
        guard let request: V3electionpb_ProclaimRequest = decode(call, bytes) else { return }
        asLeader(request.hasLeader ? request.leader : nil, call) { [weak self] lease, done in
          self?.proclaim(request.leader, request.value, lease: lease, done)
        } respond: { header in
          var response = V3electionpb_ProclaimResponse()
          response.header = header
          return response
        }
      })
    registerV3(
      server, "/v3electionpb.Election/Leader",
      .unary { [unowned self] call, bytes in
        guard let request: V3electionpb_LeaderRequest = decode(call, bytes) else { return }
        leader(named: request.name) { [weak self] result in self?.answer(call, result) }
      })
    registerV3(
      server, "/v3electionpb.Election/Resign",
      .unary { [unowned self] call, bytes in
        guard let request: V3electionpb_ResignRequest = decode(call, bytes) else { return }
        asLeader(request.hasLeader ? request.leader : nil, call) { [weak self] _, done in
          self?.resign(request.leader, done)
        } respond: { header in
          var response = V3electionpb_ResignResponse()
          response.header = header
          return response
        }
      })
    registerV3(
      server, "/v3electionpb.Election/Observe",
      .serverStreaming { [unowned self] call, bytes in
        guard let request: V3electionpb_LeaderRequest = decode(call, bytes) else { return }
        observe(request.name + Data("/".utf8), call, RecipeScope(call))
      })
  }

  /// Proclaim and Resign: `step` runs in the leader's session (on its
  /// lease; for 0, etcd's grants a new one, and so does this) and the
  /// header it ends with answers the call.
  private func asLeader<Response: SwiftProtobuf.Message>(
    _ leader: V3electionpb_LeaderKey?, _ call: GRPCServerCall,
    _ step:
      @escaping (
        _ lease: Int64, _ done: @escaping (Result<Etcdserverpb_ResponseHeader, GRPCStatus>) -> Void
      ) -> Void,
    respond: @escaping (Etcdserverpb_ResponseHeader) -> Response
  ) {
    guard let leader else { return fail(call, Self.missingLeaderKey) }
    withSession(lease: leader.lease, in: RecipeScope(call)) { [weak self] session in
      switch session {
      case .failure(let status): self?.fail(call, status)
      case .success(let lease):
        step(lease) { [weak self] result in self?.answer(call, result.map(respond)) }
      }
    }
  }

  private func campaign(_ request: V3electionpb_CampaignRequest, _ call: GRPCServerCall) {
    let scope = RecipeScope(call)
    let prefix = request.name + Data("/".utf8)
    enterQueue(prefix: prefix, lease: request.lease, value: request.value, call, in: scope) {
      [weak self] entry in
      guard let self else { return }
      var candidate = V3electionpb_LeaderKey()
      candidate.name = request.name
      candidate.key = entry.key
      candidate.lease = entry.lease
      candidate.rev = entry.revision
      var response = V3electionpb_CampaignResponse()
      response.header = entry.txn.header
      response.leader = candidate
      let wait: () -> Void = { [weak self] in
        self?.waitDeletes(prefix: prefix, maxCreateRevision: candidate.rev - 1, in: scope) {
          [weak self] waited in
          guard let self else { return }
          switch waited {
          case .success: reply(call, response)
          case .failure(let status):
            // A candidate whose client gave up withdraws, as etcd's does.
            if scope.isOver { resign(candidate) { _ in } }
            fail(call, status)
          }
        }
      }
      // The same lease campaigning again with another value proclaims it.
      guard let existing = entry.existing, existing.value != request.value else { return wait() }
      proclaim(candidate, request.value, lease: entry.lease) { [weak self] proclaimed in
        guard case .failure(let status) = proclaimed else { return wait() }
        self?.resign(candidate) { _ in }
        self?.fail(call, status)
      }
    }
  }

  /// Sets the leader's value, if `leader` still leads (its key has the
  /// creation revision it was elected with).
  private func proclaim(
    _ leader: V3electionpb_LeaderKey, _ value: Data, lease: Int64,
    _ done: @escaping (Result<Etcdserverpb_ResponseHeader, GRPCStatus>) -> Void
  ) {
    var txn = Etcdserverpb_TxnRequest()
    txn.compare = [Self.createRevision(of: leader.key, is: leader.rev)]
    txn.success = [Self.put(leader.key, value, lease: lease)]
    selfCall("/etcdserverpb.KV/Txn", txn) {
      (result: Result<Etcdserverpb_TxnResponse, GRPCStatus>) in
      done(
        result.flatMap { response in
          response.succeeded ? .success(response.header) : .failure(Self.notLeader)
        })
    }
  }

  /// Deletes the leader's key if it is still the one it was elected with.
  private func resign(
    _ leader: V3electionpb_LeaderKey,
    _ done: @escaping (Result<Etcdserverpb_ResponseHeader, GRPCStatus>) -> Void
  ) {
    var txn = Etcdserverpb_TxnRequest()
    txn.compare = [Self.createRevision(of: leader.key, is: leader.rev)]
    txn.success = [Self.delete(leader.key)]
    selfCall("/etcdserverpb.KV/Txn", txn) {
      (result: Result<Etcdserverpb_TxnResponse, GRPCStatus>) in
      done(result.map(\.header))
    }
  }

  private func leader(
    named name: Data, _ done: @escaping (Result<V3electionpb_LeaderResponse, GRPCStatus>) -> Void
  ) {
    let first = Self.firstCreated(under: name + Data("/".utf8)).requestRange
    selfCall("/etcdserverpb.KV/Range", first) {
      (result: Result<Etcdserverpb_RangeResponse, GRPCStatus>) in
      done(
        result.flatMap { found in
          guard let kv = found.kvs.first else { return .failure(Self.noLeader) }
          var response = V3electionpb_LeaderResponse()
          response.header = found.header
          response.kv = kv
          return .success(response)
        })
    }
  }

  /// Sends the leader, then every change of its value, until its key is
  /// deleted; then the next leader, once there is one. Ends with OK when
  /// a step fails, as etcd's Observe does, and when the client leaves.
  private func observe(_ prefix: Data, _ call: GRPCServerCall, _ scope: RecipeScope) {
    let end = { [weak call] in
      guard let call, !call.isFinished, !call.isCancelled else { return }
      call.finish()
    }
    let send = { [weak self] (header: Etcdserverpb_ResponseHeader, kv: Mvccpb_KeyValue) in
      guard let self, !call.isFinished, !call.isCancelled else { return }
      var response = V3electionpb_LeaderResponse()
      response.header = header
      response.kv = kv
      call.send((try? response.serializedBytes()) ?? [])
    }
    let followLeader = { [weak self] (header: Etcdserverpb_ResponseHeader, kv: Mvccpb_KeyValue) in
      guard let self else { return }
      send(header, kv)
      var watch = Etcdserverpb_WatchCreateRequest()
      watch.key = kv.key
      watch.startRevision = header.revision + 1
      selfWatch(
        watch, in: scope,
        onResponse: { response in
          for event in response.events {
            if event.type == .delete { return true }
            send(response.header, event.kv)
          }
          return false
        },
        done: { [weak self] status in
          guard status == nil else { return end() }
          self?.observe(prefix, call, scope)
        })
    }
    let first = Self.firstCreated(under: prefix).requestRange
    selfCall("/etcdserverpb.KV/Range", first) {
      [weak self] (result: Result<Etcdserverpb_RangeResponse, GRPCStatus>) in
      guard let self, !scope.isOver, case .success(let found) = result else { return end() }
      if let kv = found.kvs.first { return followLeader(found.header, kv) }
      // No leader yet: the first key put under the prefix is the next.
      var watch = Etcdserverpb_WatchCreateRequest()
      watch.key = prefix
      watch.rangeEnd = Self.prefixEnd(prefix)
      watch.startRevision = found.header.revision
      var elected: (Etcdserverpb_ResponseHeader, Mvccpb_KeyValue)?
      selfWatch(
        watch, in: scope,
        onResponse: { response in
          guard let put = response.events.first(where: { $0.type == .put }) else { return false }
          var header = response.header
          header.revision = put.kv.modRevision
          elected = (header, put.kv)
          return true
        },
        done: { status in
          guard status == nil, let elected else { return end() }
          followLeader(elected.0, elected.1)
        })
    }
  }
}
