import EtcdProto
import Net
import V2Store

/// A long-polling /v2/keys watch: its response is a chunked stream that
/// gets one JSON event per line.
final class V2WatchStream {
  let responder: HTTPResponder
  let stream: Bool

  init(responder: HTTPResponder, stream: Bool) {
    self.responder = responder
    self.stream = stream
  }
}

/// The /v2/keys handler: reads are served from the local store (or through
/// the log with quorum=true), writes are proposed and answered once
/// applied, and waits register a watcher in the store's hub.
extension EtcdServer {
  static let requestTimeoutMs: UInt64 = 7000
  /// Output a stream watcher may leave unread before it is dropped.
  static let slowWatcherBytes = 256 * 1024

  func handleV2Keys(_ http: HTTPRequest, _ responder: HTTPResponder) {
    guard allow(http, responder, "HEAD", "GET", "PUT", "POST", "DELETE") else { return }
    let method = http.method == "HEAD" ? "GET" : http.method
    let key = http.path == "/v2/keys" ? "/" : String(http.path.dropFirst("/v2/keys".count))
    // Go's ParseForm: a PUT or POST form body first, then the query; any
    // malformed part refuses the request (the body's error wins).
    var form: [(name: String, value: String)] = []
    var formError: String?
    let mediaType = http.headers["Content-Type"]?.split(separator: ";").first?.trimmingSpaces()
    if method == "PUT" || method == "POST", mediaType == "application/x-www-form-urlencoded" {
      (form, formError) = GoURL.parseForm(http.body)
    }
    let query = GoURL.parseForm(http.rawQuery.utf8)
    form += query.pairs
    if let problem = formError ?? query.error {
      return respondV2Error(responder, V2Error(.invalidForm, cause: problem, index: 0))
    }
    let request: V2KeyRequest
    do {
      request = try V2KeyRequest.parse(method: method, key: key, form: form)
    } catch {
      let v2Error = V2Error(
        V2ErrorCode(rawValue: error.code) ?? .invalidField, cause: error.cause, index: 0)
      return respondV2Error(responder, v2Error)
    }
    // etcd checks `wait` against the request's own method: a HEAD is no GET.
    if http.method == "HEAD" && request.wait {
      let cause = "\"wait\" can only be used with GET requests"
      return respondV2Error(responder, V2Error(.invalidField, cause: cause, index: 0))
    }
    // etcd's v2 auth check reads its "enabled" flag from the store on every
    // request, which shows in the store's failed-get counter; so here too.
    let now = StoreTime(nanosecondsSinceEpoch: ServerClock.wallNanoseconds())
    _ = try? v2Store.get("/2/enabled", recursive: false, now: now)
    switch method {
    // A quorum read goes through the log, as etcd's QGET, which ignores `wait`.
    case "GET" where request.wait && !request.quorum:
      startWatch(request, responder)
    case "GET" where !request.quorum:
      do {
        let event = try v2Store.get(
          Self.userPrefix + request.key, recursive: request.recursive, now: now)
        respondV2Event(responder, event, raftIndex: appliedIndex, raftTerm: appliedTerm, request)
      } catch {
        respondV2Error(responder, error)
      }
    default:
      proposeV2(request, responder)
    }
  }

  private func proposeV2(_ request: V2KeyRequest, _ responder: HTTPResponder) {
    var v2 = Swetcdpb_V2Request()
    v2.method = request.method == "GET" ? "QGET" : request.method
    v2.path = request.key
    v2.value = request.value ?? ""
    v2.dir = request.dir
    v2.prevValue = request.prevValue ?? ""
    v2.prevIndex = request.prevIndex
    if let prevExist = request.prevExist { v2.prevExist = prevExist }
    if let ttl = request.ttl { v2.ttl = Int64(clamping: ttl) }
    v2.recursive = request.recursive
    v2.sorted = request.sorted
    v2.refresh = request.refresh
    var proposal = Swetcdpb_InternalRequest()
    proposal.v2 = v2
    propose(proposal, timeoutMs: Self.requestTimeoutMs) { [weak self] result in
      guard let self, !responder.isClosed else { return }
      switch result {
      case .v2(.success(let event), let raftIndex, let raftTerm):
        respondV2Event(responder, event, raftIndex: raftIndex, raftTerm: raftTerm, request)
      case .v2(.failure(let error), _, _):
        respondV2Error(responder, error)
      case .failed(let reason):
        let code: V2ErrorCode = reason.contains("leader") ? .leaderElect : .raftInternal
        respondV2Error(responder, V2Error(code, cause: reason, index: 0))
      case .timedOut:
        respondV2Error(
          responder, V2Error(.raftInternal, cause: "etcdserver: request timed out", index: 0))
      case .done, .refused, .v3:
        respondV2Error(responder, V2Error(.raftInternal, cause: "no result", index: 0))
      }
    }
  }

  private func startWatch(_ request: V2KeyRequest, _ responder: HTTPResponder) {
    let start: WatchStart
    do {
      start = try v2Store.watch(
        Self.userPrefix + request.key, recursive: request.recursive, stream: request.stream,
        waitIndex: request.waitIndex ?? 0)
    } catch {
      return respondV2Error(responder, error)
    }
    switch start {
    case .event(let event):
      respondV2Event(responder, event, raftIndex: appliedIndex, raftTerm: appliedTerm, request)
    case .waiting(let id, let startIndex):
      var headers = v2Headers(etcdIndex: startIndex)
      headers.set("X-Raft-Index", String(appliedIndex))
      headers.set("X-Raft-Term", String(appliedTerm))
      responder.startStream(status: 200, headers: headers)
      v2Watchers[id] = V2WatchStream(responder: responder, stream: request.stream)
      // A client that goes away frees its watcher at once.
      responder.onClose = { [weak self] in
        guard let self else { return }
        v2Watchers.removeValue(forKey: id)
        v2Store.cancelWatch(id)
      }
    }
  }

  /// Hands the events of the last apply to the watchers waiting for them.
  func deliverV2Notifications() {
    for notification in v2Store.takeNotifications() {
      guard let watch = v2Watchers[notification.watcher] else { continue }
      // A stream whose client stopped reading is dropped rather than
      // buffered without bound; etcd likewise drops a watcher whose queue of
      // 100 events is full. Its response ends, so the client can re-watch
      // from the last index it saw.
      if watch.stream && watch.responder.queuedWriteBytes > Self.slowWatcherBytes {
        logger.warning(
          "dropped a v2 stream watcher that is not reading",
          metadata: ["queued-bytes": "\(watch.responder.queuedWriteBytes)"])
        _ = v2Store.cancelWatch(notification.watcher)
        endWatch(notification.watcher, watch)
        continue
      }
      let body = V2JSON.encode(notification.event, trimmingPrefix: Self.userPrefix) + "\n"
      watch.responder.writeChunk(Array(body.utf8))
      if notification.finished || !watch.stream { endWatch(notification.watcher, watch) }
    }
  }

  private func endWatch(_ id: WatcherID, _ watch: V2WatchStream) {
    v2Watchers.removeValue(forKey: id)
    watch.responder.onClose = nil
    watch.responder.endStream()
  }

  func v2Headers(etcdIndex: UInt64) -> HTTPHeaders {
    var headers = HTTPHeaders()
    headers.set("Content-Type", "application/json")
    headers.set("X-Etcd-Cluster-Id", MemberID.format(clusterID))
    headers.set("X-Etcd-Index", String(etcdIndex))
    return headers
  }

  func respondV2Event(
    _ responder: HTTPResponder, _ event: Event, raftIndex: UInt64, raftTerm: UInt64,
    _ request: V2KeyRequest
  ) {
    var headers = v2Headers(etcdIndex: event.etcdIndex)
    headers.set("X-Raft-Index", String(raftIndex))
    headers.set("X-Raft-Term", String(raftTerm))
    // A write to a key that did not exist before is "created", whatever the
    // action; reads and watches are always 200.
    let created =
      request.method != "GET"
      && (event.action == .create || (event.action == .set && event.prevNode == nil))
    let body =
      V2JSON.encode(
        event, trimmingPrefix: Self.userPrefix,
        noValueOnSuccess: request.noValueOnSuccess
          && [.set, .create, .update, .compareAndSwap].contains(event.action)) + "\n"
    responder.respond(status: created ? 201 : 200, headers: headers, body: Array(body.utf8))
  }

  func respondV2Error(_ responder: HTTPResponder, _ error: V2Error) {
    let headers = v2Headers(etcdIndex: error.index)
    let body = V2JSON.encode(error, trimmingPrefix: Self.userPrefix) + "\n"
    responder.respond(status: error.httpStatus, headers: headers, body: Array(body.utf8))
  }
}
