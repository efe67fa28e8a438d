import Net

/// HTTP on the peer port, beside the raft stream: what a member that is
/// joining asks the running cluster (`GET /members`), and `/version`.
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
}
