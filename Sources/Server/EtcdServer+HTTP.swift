import EtcdProto
import Net
import V2Store

/// The client port's HTTP/1.1 routes: the v2 API and the operational
/// endpoints, answered as etcd 3.4 answers them.
extension EtcdServer {
  public static let version = "3.4.23"
  static let clusterVersion = "3.4.0"
  static let versionJSON = "{\"etcdserver\":\"\(version)\",\"etcdcluster\":\"\(clusterVersion)\"}"

  func handleClientRequest(_ request: HTTPRequest, _ responder: HTTPResponder) {
    if !config.hostWhitelist.isEmpty {
      let host = Self.hostName(request.headers["Host"] ?? "")
      guard config.hostWhitelist.contains(host) else {
        return respondPlain(responder, 421, Self.hostNotAllowed(host))
      }
    }
    // etcd wraps its whole client mux in its CORS handler.
    responder.defaultHeaders = corsHeaders(origin: request.headers["Origin"])
    // As etcd, serve clients only once this member has published itself:
    // the cluster's own writes come first, so v2 indexes match etcd's.
    guard published else {
      awaitingPublish.append { [weak self] in self?.handleClientRequest(request, responder) }
      return
    }
    // Go's HTTP server answers these before any handler runs: a CORS
    // preflight, and a redirect to the cleaned path.
    if request.method == "OPTIONS" {
      return responder.respond(status: 200)
    }
    let path = request.path
    let cleaned = GoURL.muxPath(path)
    guard cleaned == path else {
      return redirect(responder, request, to: cleaned)
    }
    // Without the v2 API etcd registers none of its paths.
    if !config.enableV2 && (path == "/v2" || path.hasPrefix("/v2/")) {
      return respondPlain(responder, 404, "404 page not found\n")
    }
    switch path {
    case "/version":
      guard allow(request, responder, "GET") else { return }
      respondJSON(responder, 200, Self.versionJSON)
    case "/metrics", "/health":
      handleMetricsRequest(request, responder)
    case "/v2/machines":
      guard allow(request, responder, "GET", "HEAD") else { return }
      var headers = HTTPHeaders()
      headers.set("Content-Type", "text/plain; charset=utf-8")
      let urls = members.all.flatMap(\.clientURLs).joined(separator: ", ")
      responder.respond(status: 200, headers: headers, body: Array(urls.utf8))
    case "/v2/stats/self":
      guard allow(request, responder, "GET") else { return }
      respondJSON(responder, 200, selfStatsJSON())
    case "/v2/stats/leader":
      guard allow(request, responder, "GET") else { return }
      guard isLeader else {
        return respondJSON(responder, 403, "{\"message\":\"not current leader\"}")
      }
      respondJSON(responder, 200, leaderStats.json(leader: memberID))
    case "/v2/stats/store":
      guard allow(request, responder, "GET") else { return }
      respondJSON(responder, 200, v2StoreStatsJSON())
    default:
      if path == "/v2/keys" || path.hasPrefix("/v2/keys/") {
        handleV2Keys(request, responder)
      } else if path == "/v2/members" || path.hasPrefix("/v2/members/") {
        handleV2Members(request, responder)
      } else if let prefix = Self.gatewayPrefixes.first(where: { path.hasPrefix($0) }) {
        handleV3Gateway(request, responder, route: path.dropFirst(prefix.count))
      } else {
        respondPlain(responder, 404, "404 page not found\n")
      }
    }
  }

  /// etcd's allowMethod: anything else gets 405 naming what is allowed.
  func allow(_ request: HTTPRequest, _ responder: HTTPResponder, _ methods: String...)
    -> Bool
  {
    guard !methods.contains(request.method) else { return true }
    var headers = HTTPHeaders()
    headers.set("Allow", methods.joined(separator: ","))
    respondPlain(responder, 405, "Method Not Allowed\n", headers: headers)
    return false
  }

  /// http.Redirect with 301, as Go's ServeMux sends for an unclean path;
  /// only a GET gets the little HTML body.
  private func redirect(_ responder: HTTPResponder, _ request: HTTPRequest, to path: String) {
    var location = GoURL.escapePath(path)
    if !request.rawQuery.isEmpty { location += "?" + request.rawQuery }
    var headers = HTTPHeaders()
    headers.set("Location", location)
    var body: [UInt8] = []
    if request.method == "GET" || request.method == "HEAD" {
      headers.set("Content-Type", "text/html; charset=utf-8")
    }
    if request.method == "GET" {
      body = Array("<a href=\"\(Self.htmlEscaped(location))\">Moved Permanently</a>.\n\n".utf8)
    }
    responder.respond(status: 301, headers: headers, body: body)
  }

  private static func htmlEscaped(_ text: String) -> String {
    var out = ""
    for character in text {
      switch character {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&#34;"
      case "'": out += "&#39;"
      default: out.append(character)
      }
    }
    return out
  }

  /// /metrics and /health; alone on a --listen-metrics-urls port, without
  /// CORS, as etcd's metrics listener.
  func handleMetricsRequest(_ request: HTTPRequest, _ responder: HTTPResponder) {
    switch request.path {
    case "/metrics":
      guard allow(request, responder, "GET") else { return }
      respondMetrics(responder)
    case "/health":
      guard allow(request, responder, "GET") else { return }
      checkHealth(request, responder)
    default:
      respondPlain(responder, 404, "404 page not found\n")
    }
  }

  private func respondMetrics(_ responder: HTTPResponder) {
    var headers = HTTPHeaders()
    headers.set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
    responder.respond(status: 200, headers: headers, body: Array(metricsText().utf8))
  }

  /// etcd 3.4's /health: no active alarm (but those named in `exclude`
  /// parameters), a known leader, and a quorum read through the log within
  /// a second. Unhealthy is answered as Go's http.Error answers.
  private func checkHealth(_ request: HTTPRequest, _ responder: HTTPResponder) {
    let answer = { [weak self] (healthy: Bool) in
      guard let self else { return }
      guard !healthy else {
        return respondJSON(responder, 200, "{\"health\":\"true\"}", plain: true)
      }
      var headers = HTTPHeaders()
      headers.set("Content-Type", "text/plain; charset=utf-8")
      headers.set("X-Content-Type-Options", "nosniff")
      responder.respond(status: 503, headers: headers, body: Array("{\"health\":\"false\"}\n".utf8))
    }
    let excluded = Set(request.query.filter { $0.name == "exclude" }.map(\.value))
    let alarmed = alarms.get(.none).contains { !excluded.contains($0.alarm.etcdName) }
    guard !alarmed, leaderID != 0, !stopping else {
      answer(false)
      return
    }
    var read = Swetcdpb_InternalRequest()
    read.v2.method = "QGET"
    propose(read, timeoutMs: 1000) { result in
      if case .v2(.success, _, _) = result { answer(true) } else { answer(false) }
    }
  }

  /// etcd answers v2 requests with permissive CORS headers.
  /// The host of a Host header, without its port.
  static func hostName(_ header: String) -> String {
    if header.hasPrefix("["), let close = header.firstIndex(of: "]") {
      return String(header[header.index(after: header.startIndex)..<close])
    }
    return String(header.split(separator: ":", maxSplits: 1).first ?? "")
  }

  /// etcd's answer to a request whose Host is not in --host-whitelist: a
  /// guard against DNS rebinding.
  static func hostNotAllowed(_ host: String) -> String {
    """

    etcd received your request, but the Host header was unrecognized.

    To fix this, choose one of the following options:
    - Enable TLS, then any HTTPS request will be allowed.
    - Add the hostname you want to use to the whitelist in settings.
      - e.g. etcd --host-whitelist "\(host)"

    This requirement has been added to help prevent "DNS Rebinding" attacks (CVE-2018-5702).


    """
  }

  /// Every origin is allowed unless --cors names some: then only a request
  /// from one of those gets the headers, with its origin echoed.
  private func corsHeaders(origin: String?) -> HTTPHeaders {
    guard !config.corsOrigins.isEmpty else { return Self.corsHeaders }
    guard let origin, config.corsOrigins.contains(origin) else { return [:] }
    var headers = Self.corsHeaders
    headers.set("Access-Control-Allow-Origin", origin)
    return headers
  }

  static let corsHeaders: HTTPHeaders = {
    var headers = HTTPHeaders()
    headers.set("Access-Control-Allow-Headers", "accept, content-type, authorization")
    headers.set("Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE")
    headers.set("Access-Control-Allow-Origin", "*")
    return headers
  }()

  func respondJSON(_ responder: HTTPResponder, _ status: Int, _ body: String, plain: Bool = false) {
    var headers = HTTPHeaders()
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
    let state = serverStats.isLeaderState ? "StateLeader" : "StateFollower"
    let now = ServerClock.wallNanoseconds()
    let since = serverStats.leaderSince == 0 ? startTime : serverStats.leaderSince
    let leader = serverStats.leader == 0 ? "" : MemberID.format(serverStats.leader)
    return "{\"name\":" + V2JSON.quoted(config.name) + ",\"id\":\"\(MemberID.format(memberID))\","
      + "\"state\":\"\(state)\",\"startTime\":\"\(V2JSON.rfc3339Nano(StoreTime(nanosecondsSinceEpoch: startTime)))\","
      + "\"leaderInfo\":{\"leader\":\"\(leader)\","
      + "\"uptime\":\"\(ServerClock.goDuration(now - since))\","
      + "\"startTime\":\"\(V2JSON.rfc3339Nano(StoreTime(nanosecondsSinceEpoch: since)))\"},"
      + serverStats.jsonFields(isLeader: isLeader, at: ServerClock.monotonicNanoseconds()) + "}"
  }
}
