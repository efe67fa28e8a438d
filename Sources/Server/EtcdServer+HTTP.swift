import Net
import V2Store

/// The client port's HTTP/1.1 routes: the v2 API and the operational
/// endpoints, answered as etcd 3.4 answers them.
extension EtcdServer {
  public static let version = "3.4.23"
  static let clusterVersion = "3.4.0"
  static let versionJSON = "{\"etcdserver\":\"\(version)\",\"etcdcluster\":\"\(clusterVersion)\"}"

  func handleClientRequest(_ request: HTTPRequest, _ responder: HTTPResponder) {
    // As etcd, serve clients only once this member has published itself:
    // the cluster's own writes come first, so v2 indexes match etcd's.
    guard published else {
      awaitingPublish.append { [weak self] in self?.handleClientRequest(request, responder) }
      return
    }
    let path = request.path
    switch path {
    case "/version":
      respondJSON(responder, 200, Self.versionJSON)
    case "/health":
      let healthy = leaderID != 0 && !stopping
      respondJSON(responder, healthy ? 200 : 503, "{\"health\":\"\(healthy)\"}", plain: true)
    case "/v2/machines":
      var headers = corsHeaders()
      headers.set("Content-Type", "text/plain; charset=utf-8")
      let urls = members.all.flatMap(\.clientURLs).joined(separator: ", ")
      responder.respond(status: 200, headers: headers, body: Array(urls.utf8))
    case "/v2/stats/self":
      respondJSON(responder, 200, selfStatsJSON())
    case "/v2/stats/leader":
      guard isLeader else {
        return respondJSON(responder, 403, "{\"message\":\"not current leader\"}")
      }
      respondJSON(responder, 200, leaderStats.json(leader: memberID))
    case "/v2/stats/store":
      respondJSON(responder, 200, v2StoreStatsJSON())
    default:
      if path == "/v2/keys" || path.hasPrefix("/v2/keys/") {
        handleV2Keys(request, responder)
      } else if path == "/v2/members" || path.hasPrefix("/v2/members/") {
        handleV2Members(request, responder)
      } else {
        var headers = HTTPHeaders()
        headers.set("Content-Type", "text/plain; charset=utf-8")
        headers.set("X-Content-Type-Options", "nosniff")
        responder.respond(status: 404, headers: headers, body: Array("404 page not found\n".utf8))
      }
    }
  }

  /// etcd answers v2 requests with permissive CORS headers.
  func corsHeaders() -> HTTPHeaders {
    var headers = HTTPHeaders()
    headers.set("Access-Control-Allow-Headers", "accept, content-type, authorization")
    headers.set("Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE")
    headers.set("Access-Control-Allow-Origin", "*")
    return headers
  }

  func respondJSON(_ responder: HTTPResponder, _ status: Int, _ body: String, plain: Bool = false) {
    var headers = corsHeaders()
    headers.set("Content-Type", plain ? "text/plain; charset=utf-8" : "application/json")
    responder.respond(status: status, headers: headers, body: Array(body.utf8))
  }

  func methodNotAllowed(_ responder: HTTPResponder, allow: String) {
    var headers = HTTPHeaders()
    headers.set("Allow", allow)
    headers.set("Content-Type", "text/plain; charset=utf-8")
    responder.respond(status: 405, headers: headers, body: Array("Method Not Allowed\n".utf8))
  }

  private func selfStatsJSON() -> String {
    let state: String
    switch driver.node.role {
    case .leader: state = "StateLeader"
    case .candidate, .preCandidate: state = "StateCandidate"
    case .follower: state = "StateFollower"
    }
    let now = ServerClock.wallNanoseconds()
    let since = leaderSince == 0 ? startTime : leaderSince
    return "{\"name\":" + V2JSON.quoted(config.name) + ",\"id\":\"\(MemberID.format(memberID))\","
      + "\"state\":\"\(state)\",\"startTime\":\"\(V2JSON.rfc3339Nano(StoreTime(nanosecondsSinceEpoch: startTime)))\","
      + "\"leaderInfo\":{\"leader\":\"\(MemberID.format(leaderID))\","
      + "\"uptime\":\"\(ServerClock.goDuration(now - since))\","
      + "\"startTime\":\"\(V2JSON.rfc3339Nano(StoreTime(nanosecondsSinceEpoch: since)))\"},"
      + serverStats.jsonFields(isLeader: isLeader, at: ServerClock.monotonicNanoseconds()) + "}"
  }
}
