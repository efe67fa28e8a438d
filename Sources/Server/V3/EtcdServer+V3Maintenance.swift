import EtcdProto
import Net
import SwiftProtobuf

/// The read-only parts of the Cluster and Maintenance services that
/// etcdctl's `member list` and `endpoint status` use.
extension EtcdServer {
  func registerClusterAndMaintenance(_ server: GRPCServer) {
    server.register(
      "/etcdserverpb.Cluster/MemberList",
      .unary { [unowned self] call, _ in
        var response = Etcdserverpb_MemberListResponse()
        response.header = responseHeader()
        response.members = members.all.map(\.v3)
        call.respond((try? response.serializedBytes()) ?? [])
      })
    server.register(
      "/etcdserverpb.Maintenance/Status",
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
        call.respond((try? response.serializedBytes()) ?? [])
      })
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
