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
    guard config.enableV2 else {
      var headers = HTTPHeaders()
      headers.set("Content-Type", "text/plain; charset=utf-8")
      responder.respond(status: 404, headers: headers, body: Array("404 page not found\n".utf8))
      return
    }
    let method = http.method == "HEAD" ? "GET" : http.method
    guard ["GET", "PUT", "POST", "DELETE"].contains(method) else {
      return methodNotAllowed(responder, allow: "HEAD,GET,PUT,POST,DELETE")
    }
    let key = http.path == "/v2/keys" ? "/" : String(http.path.dropFirst("/v2/keys".count))
    var form = http.query
    if method != "GET",
      http.headers["Content-Type"]?.hasPrefix("application/x-www-form-urlencoded") ?? false
    {
      // Body values come before the query's, as Go's ParseForm orders them.
      form = FormDecoding.decode(http.body) + form
    }
    let request: V2KeyRequest
    do {
      request = try V2KeyRequest.parse(method: method, key: key, form: form)
    } catch {
      let v2Error = V2Error(
        V2ErrorCode(rawValue: error.code) ?? .invalidField, cause: error.cause, index: 0)
      return respondV2Error(responder, v2Error)
    }
    switch method {
    case "GET" where request.wait:
      startWatch(request, responder)
    case "GET" where !request.quorum:
      let now = StoreTime(nanosecondsSinceEpoch: ServerClock.wallNanoseconds())
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
      case .done, .refused:
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
    var headers = corsHeaders()
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
        noValueOnSuccess: request.noValueOnSuccess && request.method != "GET") + "\n"
    responder.respond(status: created ? 201 : 200, headers: headers, body: Array(body.utf8))
  }

  func respondV2Error(_ responder: HTTPResponder, _ error: V2Error) {
    let headers = v2Headers(etcdIndex: error.index)
    let body = V2JSON.encode(error, trimmingPrefix: Self.userPrefix) + "\n"
    responder.respond(status: error.httpStatus, headers: headers, body: Array(body.utf8))
  }
}

/// application/x-www-form-urlencoded bodies.
enum FormDecoding {
  static func decode(_ body: [UInt8]) -> [(name: String, value: String)] {
    body.split(separator: UInt8(ascii: "&")).map { pair in
      let equals = pair.firstIndex(of: UInt8(ascii: "="))
      let name = equals.map { pair[..<$0] } ?? pair[...]
      let value = equals.map { pair[pair.index(after: $0)...] } ?? []
      return (percentDecode(name), percentDecode(value))
    }
  }

  static func percentDecode(_ bytes: ArraySlice<UInt8>) -> String {
    var out: [UInt8] = []
    var i = bytes.startIndex
    while i < bytes.endIndex {
      let byte = bytes[i]
      if byte == UInt8(ascii: "+") {
        out.append(UInt8(ascii: " "))
      } else if byte == UInt8(ascii: "%"), i + 2 < bytes.endIndex,
        let high = hex(bytes[i + 1]), let low = hex(bytes[i + 2])
      {
        out.append(high << 4 | low)
        i += 2
      } else {
        out.append(byte)
      }
      i += 1
    }
    return String(decoding: out, as: UTF8.self)
  }

  private static func hex(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
  }
}
