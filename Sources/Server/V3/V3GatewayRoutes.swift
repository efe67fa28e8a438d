import EtcdProto
import Net
import SwiftProtobuf

/// One path of etcd's JSON gateway: the gRPC method behind it and the
/// conversions between its messages' JSON and binary forms.
struct V3GatewayRoute: Sendable {
  let method: String
  let kind: Kind
  enum Kind {
    case unary
    /// A streaming method: the one JSON request is its only message, and
    /// each answer is a `{"result":...}` line of a chunked body.
    case serverStreaming
    /// As `serverStreaming`; grpc-gateway reads the request of these where
    /// it reports a malformed one as Unknown rather than InvalidArgument.
    case bidiStreaming
  }
  let requestToBinary: @Sendable ([UInt8]) throws -> [UInt8]
  let responseToJSON: @Sendable ([UInt8]) throws -> [UInt8]

  /// grpc-gateway's JSON as etcd 3.4 configures it: proto field names,
  /// 64-bit integers as strings, bytes in base64, enums by name, fields
  /// at their defaults left out; unknown fields in a request are ignored.
  static let encoding: JSONEncodingOptions = {
    var options = JSONEncodingOptions()
    options.preserveProtoFieldNames = true
    return options
  }()
  static let decoding: JSONDecodingOptions = {
    var options = JSONDecodingOptions()
    options.ignoreUnknownFields = true
    return options
  }()

  static func of<Request: Message, Response: Message>(
    _ method: String, _: Request.Type, _: Response.Type, kind: Kind = .unary
  ) -> V3GatewayRoute {
    V3GatewayRoute(
      method: method, kind: kind,
      requestToBinary: { json in
        // An empty body is an empty request, as grpc-gateway reads it.
        let message = try json.isEmpty ? Request() : Request(jsonUTF8Bytes: json, options: decoding)
        return try message.serializedBytes()
      },
      responseToJSON: { bytes in
        try Response(serializedBytes: bytes).jsonUTF8Bytes(options: encoding)
      })
  }

  /// etcd 3.4's gateway paths (its rpc.proto HTTP annotations), below
  /// `/v3/`. Maintenance.HashKV shares Hash's path there, so Hash answers.
  static let all: [String: V3GatewayRoute] = {
    var routes: [String: V3GatewayRoute] = [
      "kv/range": .of(
        "/etcdserverpb.KV/Range", Etcdserverpb_RangeRequest.self, Etcdserverpb_RangeResponse.self),
      "kv/put": .of(
        "/etcdserverpb.KV/Put", Etcdserverpb_PutRequest.self, Etcdserverpb_PutResponse.self),
      "kv/deleterange": .of(
        "/etcdserverpb.KV/DeleteRange", Etcdserverpb_DeleteRangeRequest.self,
        Etcdserverpb_DeleteRangeResponse.self),
      "kv/txn": .of(
        "/etcdserverpb.KV/Txn", Etcdserverpb_TxnRequest.self, Etcdserverpb_TxnResponse.self),
      "kv/compaction": .of(
        "/etcdserverpb.KV/Compact", Etcdserverpb_CompactionRequest.self,
        Etcdserverpb_CompactionResponse.self),
      "watch": .of(
        "/etcdserverpb.Watch/Watch", Etcdserverpb_WatchRequest.self,
        Etcdserverpb_WatchResponse.self, kind: .bidiStreaming),
      "lease/grant": .of(
        "/etcdserverpb.Lease/LeaseGrant", Etcdserverpb_LeaseGrantRequest.self,
        Etcdserverpb_LeaseGrantResponse.self),
      "lease/keepalive": .of(
        "/etcdserverpb.Lease/LeaseKeepAlive", Etcdserverpb_LeaseKeepAliveRequest.self,
        Etcdserverpb_LeaseKeepAliveResponse.self, kind: .bidiStreaming),
      "cluster/member/add": .of(
        "/etcdserverpb.Cluster/MemberAdd", Etcdserverpb_MemberAddRequest.self,
        Etcdserverpb_MemberAddResponse.self),
      "cluster/member/remove": .of(
        "/etcdserverpb.Cluster/MemberRemove", Etcdserverpb_MemberRemoveRequest.self,
        Etcdserverpb_MemberRemoveResponse.self),
      "cluster/member/update": .of(
        "/etcdserverpb.Cluster/MemberUpdate", Etcdserverpb_MemberUpdateRequest.self,
        Etcdserverpb_MemberUpdateResponse.self),
      "cluster/member/list": .of(
        "/etcdserverpb.Cluster/MemberList", Etcdserverpb_MemberListRequest.self,
        Etcdserverpb_MemberListResponse.self),
      "cluster/member/promote": .of(
        "/etcdserverpb.Cluster/MemberPromote", Etcdserverpb_MemberPromoteRequest.self,
        Etcdserverpb_MemberPromoteResponse.self),
      "maintenance/alarm": .of(
        "/etcdserverpb.Maintenance/Alarm", Etcdserverpb_AlarmRequest.self,
        Etcdserverpb_AlarmResponse.self),
      "maintenance/status": .of(
        "/etcdserverpb.Maintenance/Status", Etcdserverpb_StatusRequest.self,
        Etcdserverpb_StatusResponse.self),
      "maintenance/defragment": .of(
        "/etcdserverpb.Maintenance/Defragment", Etcdserverpb_DefragmentRequest.self,
        Etcdserverpb_DefragmentResponse.self),
      "maintenance/hash": .of(
        "/etcdserverpb.Maintenance/Hash", Etcdserverpb_HashRequest.self,
        Etcdserverpb_HashResponse.self),
      "maintenance/snapshot": .of(
        "/etcdserverpb.Maintenance/Snapshot", Etcdserverpb_SnapshotRequest.self,
        Etcdserverpb_SnapshotResponse.self,
        kind: .serverStreaming),
      "maintenance/transfer-leadership": .of(
        "/etcdserverpb.Maintenance/MoveLeader", Etcdserverpb_MoveLeaderRequest.self,
        Etcdserverpb_MoveLeaderResponse.self),
    ]
    // Auth, Lock and Election answer as their gRPC services do.
    routes["auth/enable"] = .of(
      "/etcdserverpb.Auth/AuthEnable", Etcdserverpb_AuthEnableRequest.self,
      Etcdserverpb_AuthEnableResponse.self)
    routes["auth/disable"] = .of(
      "/etcdserverpb.Auth/AuthDisable", Etcdserverpb_AuthDisableRequest.self,
      Etcdserverpb_AuthDisableResponse.self)
    routes["auth/authenticate"] = .of(
      "/etcdserverpb.Auth/Authenticate", Etcdserverpb_AuthenticateRequest.self,
      Etcdserverpb_AuthenticateResponse.self)
    routes["auth/user/add"] = .of(
      "/etcdserverpb.Auth/UserAdd", Etcdserverpb_AuthUserAddRequest.self,
      Etcdserverpb_AuthUserAddResponse.self)
    routes["auth/user/get"] = .of(
      "/etcdserverpb.Auth/UserGet", Etcdserverpb_AuthUserGetRequest.self,
      Etcdserverpb_AuthUserGetResponse.self)
    routes["auth/user/list"] = .of(
      "/etcdserverpb.Auth/UserList", Etcdserverpb_AuthUserListRequest.self,
      Etcdserverpb_AuthUserListResponse.self)
    routes["auth/user/delete"] = .of(
      "/etcdserverpb.Auth/UserDelete", Etcdserverpb_AuthUserDeleteRequest.self,
      Etcdserverpb_AuthUserDeleteResponse.self)
    routes["auth/user/changepw"] = .of(
      "/etcdserverpb.Auth/UserChangePassword", Etcdserverpb_AuthUserChangePasswordRequest.self,
      Etcdserverpb_AuthUserChangePasswordResponse.self)
    routes["auth/user/grant"] = .of(
      "/etcdserverpb.Auth/UserGrantRole", Etcdserverpb_AuthUserGrantRoleRequest.self,
      Etcdserverpb_AuthUserGrantRoleResponse.self)
    routes["auth/user/revoke"] = .of(
      "/etcdserverpb.Auth/UserRevokeRole", Etcdserverpb_AuthUserRevokeRoleRequest.self,
      Etcdserverpb_AuthUserRevokeRoleResponse.self)
    routes["auth/role/add"] = .of(
      "/etcdserverpb.Auth/RoleAdd", Etcdserverpb_AuthRoleAddRequest.self,
      Etcdserverpb_AuthRoleAddResponse.self)
    routes["auth/role/get"] = .of(
      "/etcdserverpb.Auth/RoleGet", Etcdserverpb_AuthRoleGetRequest.self,
      Etcdserverpb_AuthRoleGetResponse.self)
    routes["auth/role/list"] = .of(
      "/etcdserverpb.Auth/RoleList", Etcdserverpb_AuthRoleListRequest.self,
      Etcdserverpb_AuthRoleListResponse.self)
    routes["auth/role/delete"] = .of(
      "/etcdserverpb.Auth/RoleDelete", Etcdserverpb_AuthRoleDeleteRequest.self,
      Etcdserverpb_AuthRoleDeleteResponse.self)
    routes["auth/role/grant"] = .of(
      "/etcdserverpb.Auth/RoleGrantPermission", Etcdserverpb_AuthRoleGrantPermissionRequest.self,
      Etcdserverpb_AuthRoleGrantPermissionResponse.self)
    routes["auth/role/revoke"] = .of(
      "/etcdserverpb.Auth/RoleRevokePermission", Etcdserverpb_AuthRoleRevokePermissionRequest.self,
      Etcdserverpb_AuthRoleRevokePermissionResponse.self)
    routes["lock/lock"] = .of(
      "/v3lockpb.Lock/Lock", V3lockpb_LockRequest.self, V3lockpb_LockResponse.self)
    routes["lock/unlock"] = .of(
      "/v3lockpb.Lock/Unlock", V3lockpb_UnlockRequest.self, V3lockpb_UnlockResponse.self)
    routes["election/campaign"] = .of(
      "/v3electionpb.Election/Campaign", V3electionpb_CampaignRequest.self,
      V3electionpb_CampaignResponse.self)
    routes["election/proclaim"] = .of(
      "/v3electionpb.Election/Proclaim", V3electionpb_ProclaimRequest.self,
      V3electionpb_ProclaimResponse.self)
    routes["election/leader"] = .of(
      "/v3electionpb.Election/Leader", V3electionpb_LeaderRequest.self,
      V3electionpb_LeaderResponse.self)
    routes["election/observe"] = .of(
      "/v3electionpb.Election/Observe", V3electionpb_LeaderRequest.self,
      V3electionpb_LeaderResponse.self, kind: .serverStreaming)
    routes["election/resign"] = .of(
      "/v3electionpb.Election/Resign", V3electionpb_ResignRequest.self,
      V3electionpb_ResignResponse.self)
    // Reached by both paths on etcd.
    for (name, route) in [
      (
        "lease/revoke",
        V3GatewayRoute.of(
          "/etcdserverpb.Lease/LeaseRevoke", Etcdserverpb_LeaseRevokeRequest.self,
          Etcdserverpb_LeaseRevokeResponse.self)
      ),
      (
        "lease/timetolive",
        .of(
          "/etcdserverpb.Lease/LeaseTimeToLive", Etcdserverpb_LeaseTimeToLiveRequest.self,
          Etcdserverpb_LeaseTimeToLiveResponse.self)
      ),
      (
        "lease/leases",
        .of(
          "/etcdserverpb.Lease/LeaseLeases", Etcdserverpb_LeaseLeasesRequest.self,
          Etcdserverpb_LeaseLeasesResponse.self)
      ),
    ] {
      routes[name] = route
      routes["kv/" + name] = route
    }
    return routes
  }()
}
