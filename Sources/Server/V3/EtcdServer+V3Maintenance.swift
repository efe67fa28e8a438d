import EtcdProto
import MVCC
import Net
import SwiftProtobuf

/// The parts of the Cluster and Maintenance services that need no log
/// entry: `member list`, `endpoint status`, `endpoint hashkv`;
/// the membership changes are in EtcdServer+V3Cluster.swift, alarms in
/// EtcdServer+V3Alarm.swift.
extension EtcdServer {
  func registerClusterAndMaintenance(_ server: GRPCServer) {
    registerMoveLeader(server)
    registerV3(
      server, "/etcdserverpb.Cluster/MemberList",
      .unary { [unowned self] call, _ in
        var response = Etcdserverpb_MemberListResponse()
        response.header = clusterResponseHeader()
        response.members = members.all.map(\.v3)
        call.respond((try? response.serializedBytes()) ?? [])
      })
    registerClusterChanges(server)
    registerV3(
      server, "/etcdserverpb.Maintenance/Status",
      .unary { [unowned self] call, _ in
        var response = Etcdserverpb_StatusResponse()
        response.header = responseHeader()
        response.version = Self.version
        response.dbSize = Int64((try? mvcc?.dbSize()) ?? 0)
        response.dbSizeInUse = Int64((try? mvcc?.dbSizeInUse()) ?? 0)
        response.leader = leaderID
        response.raftIndex = driver.node.committedIndex
        response.raftTerm = driver.node.term
        response.raftAppliedIndex = appliedIndex
        response.isLearner = members[memberID]?.isLearner ?? false
        if leaderID == 0 { response.errors.append(V3Error.noLeader.message) }
        response.errors += alarms.get(.none).map(\.etcdText)
        call.respond((try? response.serializedBytes()) ?? [])
      })
    registerV3(
      server, "/etcdserverpb.Maintenance/HashKV",
      .unary { [unowned self] call, bytes in
        guard let request: Etcdserverpb_HashKVRequest = decode(call, bytes) else { return }
        guard let mvcc else { return fail(call, .stopped) }
        do throws(MVCCError) {
          let result = try mvcc.hashKV(revision: request.revision)
          var response = Etcdserverpb_HashKVResponse()
          response.header = responseHeader()
          response.hash = result.hash
          response.compactRevision = result.compactRevision
          call.respond((try? response.serializedBytes()) ?? [])
        } catch {
          let failure = V3Error(error)
          call.finish(status: failure.code, message: failure.message)
        }
      })
    registerAlarm(server)
  }
}

extension Member {
  var v3: Etcdserverpb_Member {
    var member = Etcdserverpb_Member()
    member.id = id
    member.name = name
    member.peerUrls = peerURLs
    member.clientUrls = clientURLs
    member.isLearner = isLearner
    return member
  }
}

extension EtcdServer {
  /// MoveLeader: the leader hands over to a voter (Raft's leader transfer)
  /// and answers once that member leads, or gives up after the request
  /// timeout, as etcd does.
  func registerMoveLeader(_ server: GRPCServer) {
    registerV3(
      server, "/etcdserverpb.Maintenance/MoveLeader",
      .unary { [unowned self] call, bytes in
        guard let request: Etcdserverpb_MoveLeaderRequest = decode(call, bytes) else { return }
        guard isLeader else { return fail(call, .notLeader) }
        guard let target = members[request.targetID], !target.isLearner else {
          return fail(
            call, V3Error(code: .failedPrecondition, message: "etcdserver: bad leader transferee"))
        }
        driver.node.transferLeader(to: target.id)
        driver.pump()
        awaitLeader(
          target.id, call,
          deadline: ServerClock.monotonicNanoseconds() + Int64(Self.requestTimeoutMs) * 1_000_000)
      })
  }

  private func awaitLeader(_ target: UInt64, _ call: GRPCServerCall, deadline: Int64) {
    // etcd's answer is empty: no header.
    if leaderID == target { return reply(call, Etcdserverpb_MoveLeaderResponse()) }
    guard ServerClock.monotonicNanoseconds() < deadline, !call.isCancelled else {
      return fail(
        call,
        V3Error(
          code: .unavailable,
          message: "etcdserver: request timed out, leader transfer took too long"))
    }
    LoopTimer.after(UInt64(config.heartbeatInterval), on: loop) { [weak self] in
      self?.awaitLeader(target, call, deadline: deadline)
    }
  }
}
