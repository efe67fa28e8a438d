import EtcdProto
import Net

/// HTTP on the peer port, beside the raft stream: what a member that is
/// joining asks the running cluster (`GET /members`), `/version`, and the
/// leader's side of what followers forward (`EtcdServer+LeaderForward`).
extension EtcdServer {
  func startPeerHTTP() {
    let server = HTTPServer(loop: loop, configuration: HTTPServer.Configuration()) {
      [unowned self] request, responder in
      handlePeerRequest(request, responder)
    }
    peerHTTPServer = server
    transport.httpFallback = { [weak server] connection, bytes in
      server?.serve(connection, initialBytes: bytes)
    }
  }

  private func handlePeerRequest(_ request: HTTPRequest, _ responder: HTTPResponder) {
    if request.method == "POST" { return handleForwarded(request, responder) }
    guard request.method == "GET" || request.method == "HEAD" else {
      return methodNotAllowed(responder, allow: "GET")
    }
    switch request.path {
    case "/members":
      var headers = HTTPHeaders()
      headers.set("Content-Type", "application/json")
      headers.set("X-Etcd-Cluster-Id", MemberID.format(clusterID))
      let body = "[" + members.all.map(\.peerJSON).joined(separator: ",") + "]\n"
      responder.respond(status: 200, headers: headers, body: Array(body.utf8))
    case "/version":
      var headers = HTTPHeaders()
      headers.set("Content-Type", "application/json")
      responder.respond(status: 200, headers: headers, body: Array(Self.versionJSON.utf8))
    default:
      respondPlain(responder, 404, "404 page not found\n")
    }
  }

  /// Runs `answer` once the leader has applied all it had committed. One
  /// that cannot within etcd's second answers 408 without a gRPC code,
  /// which the follower retries until its own deadline, as etcd's does.
  private func afterAppliedCommit(_ responder: HTTPResponder, _ answer: @escaping () -> Void) {
    awaitAppliedCommit(timeoutMs: 1000) { [weak self, weak responder] applied in
      guard let self, let responder, !responder.isClosed else { return }
      guard applied else {
        return respondPlain(
          responder, 408, "waiting for node to catch up its applied index has timed out\n")
      }
      answer()
    }
  }

  private func handleForwarded(_ request: HTTPRequest, _ responder: HTTPResponder) {
    switch request.path {
    case Self.leasesPath:
      let request = V3Error.decode(request.body) as Result<Etcdserverpb_LeaseKeepAliveRequest, _>
      afterAppliedCommit(responder) {
        self.respondForwarded(responder, request.flatMap { self.renewOnLeader($0.id) })
      }
    case Self.leaseTimeToLivePath:
      let request = V3Error.decode(request.body) as Result<Etcdserverpb_LeaseTimeToLiveRequest, _>
      afterAppliedCommit(responder) {
        self.respondForwarded(responder, request.flatMap { self.timeToLiveOnLeader($0) })
      }
    case let path where path.hasPrefix(Self.promotePathPrefix):
      guard let id = UInt64(path.dropFirst(Self.promotePathPrefix.count)) else {
        return respondPlain(responder, 400, "bad member ID\n")
      }
      promoteOnLeader(id) { [weak responder] result in
        guard let responder, !responder.isClosed else { return }
        self.respondForwarded(responder, result)
      }
    default:
      respondPlain(responder, 404, "404 page not found\n")
    }
  }
}
