import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The same v2 requests, in the same order, to a fresh etcd 3.4.23 and a
/// fresh swetcd member; every answer of swetcd must equal etcd's.
@Suite("v2 answers equal etcd 3.4.23's", .serialized)
struct V2DifferentialTests {
  @Test("a script over every v2 parameter, action and error gets etcd's answers")
  func sameAnswers() throws {
    try Harness.withReferenceAndMember { reference, member in
      let etcd = Server(name: "etcd", port: reference.clientPort, peerPort: reference.peerPort)
      let swetcd = Server(name: "swetcd", port: member.clientPort, peerPort: member.peerPort)
      let comparison = Comparison(etcd: etcd, swetcd: swetcd)
      let start = Date()
      for step in Self.script { comparison.run(step) }
      for mismatch in comparison.mismatches { Issue.record(Comment(rawValue: mismatch)) }
      print(
        "v2 differential: \(comparison.compared) requests compared in "
          + String(format: "%.1f s", Date().timeIntervalSince(start))
          + ", \(comparison.mismatches.count) answers differ")
    }
  }

  static func get(_ target: String) -> Step { .send(Request(method: "GET", target: target)) }
  static func put(_ target: String, _ form: String? = nil) -> Step {
    .send(Request(method: "PUT", target: target, form: form))
  }
  static func post(_ target: String, _ form: String? = nil) -> Step {
    .send(Request(method: "POST", target: target, form: form))
  }
  static func delete(_ target: String, _ form: String? = nil) -> Step {
    .send(Request(method: "DELETE", target: target, form: form))
  }
  static func watch(_ target: String, after writes: Step...) -> Step {
    .watch(Request(method: "GET", target: target), writes: writes)
  }

  static let script: [Step] =
    endpoints + writes + conditions + ttls + directories + deletes + inOrder + paths + watches
    + history

  static let endpoints: [Step] = [
    get("/version"), get("/health"), get("/v2/machines"), get("/v2/members"),
    get("/v2/members/leader"), get("/v2/stats/leader"), get("/v2/stats/store"),
    delete("/v2/members/zz"), delete("/v2/members/1"), post("/v2/members", "peerURLs=x"),
    get("/v2/keys"), get("/v2/keys/"),
    get("/v2/keys/?recursive=true"), put("/v2/keys/", "value=x"),
    delete("/v2/keys/?recursive=true"), get("/v2/nope"), get("/v2/keysx"),
    .send(Request(method: "PATCH", target: "/v2/keys/a")),
    .send(Request(method: "HEAD", target: "/v2/members")),
    .send(Request(method: "HEAD", target: "/v2/keys/a?wait=true")),
    // A quorum read ignores `wait`: answered at once.
    get("/v2/keys/a?wait=true&quorum=true"),
    .send(Request(method: "POST", target: "/version")),
    .send(Request(method: "DELETE", target: "/v2/machines")),
    .send(Request(method: "OPTIONS", target: "/v2/keys/a")),
    get("/v2/keys//a"), get("/v2/keys/x/../a"),
  ]

  static let writes: [Step] = [
    get("/v2/keys/a"), put("/v2/keys/a", "value=1"), get("/v2/keys/a"),
    .send(Request(method: "HEAD", target: "/v2/keys/a")),
    put("/v2/keys/a", "value=2"), put("/v2/keys/a?value=query"),
    put("/v2/keys/a?value=query", "value=form"), put("/v2/keys/a"),
    put("/v2/keys/a", "value=3&noValueOnSuccess=true"),
    put("/v2/keys/a", "value=4&noValueOnSuccess=abc"),
    // Only a urlencoded body is a form: this PUT sets the empty value.
    .send(
      Request(
        method: "PUT", target: "/v2/keys/a", form: #"{"value":"j"}"#,
        contentType: "application/json")),
    put("/v2/keys/a", "value=a%26b%3Dc%20%22%3C%3E%5C"), put("/v2/keys/a", "value=%zz"),
    get("/v2/keys/a?x=%zz"), get("/v2/keys/a?quorum=true"), get("/v2/keys/a?quorum=abc"),
    get("/v2/keys/a?recursive=abc"), get("/v2/keys/a?sorted=1"),
    put("/v2/keys/a?wait=true", "value=1"), get("/v2/keys/a?wait=abc"),
    get("/v2/keys/a?wait=true&waitIndex=abc"), get("/v2/keys/a?waitIndex=4"),
    get("/v2/keys/a?stream=abc"), get("/v2/keys/a/b"), put("/v2/keys/a/b", "value=1"),
    post("/v2/keys/a", "value=1"),
  ]

  static let conditions: [Step] = [
    put("/v2/keys/b?prevExist=true", "value=1"), put("/v2/keys/b", "prevExist=false&value=1"),
    put("/v2/keys/b", "prevExist=false&value=2"), put("/v2/keys/b", "prevExist=true&value=2"),
    put("/v2/keys/b", "prevExist=1&value=3"), put("/v2/keys/b", "prevExist=maybe&value=3"),
    put("/v2/keys/b", "prevExist=true"), put("/v2/keys/b", "value=3"),
    put("/v2/keys/b", "prevValue=3&value=4"), put("/v2/keys/b", "prevValue=9&value=5"),
    put("/v2/keys/b", "prevValue=&value=5"), put("/v2/keys/b?prevValue=4", "value=5"),
    put("/v2/keys/b", "prevIndex={index}&value=6"), put("/v2/keys/b", "prevIndex=1&value=7"),
    put("/v2/keys/b", "prevIndex=abc&value=7"), put("/v2/keys/b", "prevIndex=0&value=7"),
    put("/v2/keys/b", "prevIndex=-1&value=7"),
    put("/v2/keys/b", "prevValue=x&prevIndex=1&value=8"),
    put("/v2/keys/b", "prevValue=7&prevIndex=1&value=8"),
    put("/v2/keys/b", "prevValue=x&prevIndex={index}&value=8"),
    put("/v2/keys/b", "prevValue=7&prevIndex={index}&value=8"),
    put("/v2/keys/nope", "prevValue=1&value=1"), put("/v2/keys/nope", "prevIndex=5&value=1"),
    put("/v2/keys/b", "prevExist=false&prevValue=8&value=9"),
    put("/v2/keys/b", "prevExist=true&prevValue=8&value=9"),
    put("/v2/keys/b", "prevExist=true&prevValue=x&value=9"),
  ]

  static let ttls: [Step] = [
    put("/v2/keys/t", "value=1&ttl=100"), get("/v2/keys/t"), put("/v2/keys/t", "value=2&ttl=abc"),
    put("/v2/keys/t", "value=2&ttl=-1"), put("/v2/keys/t", "value=2&ttl=1.5"),
    put("/v2/keys/t", "prevExist=true&ttl=200&value=2"), put("/v2/keys/t", "value=3&ttl="),
    get("/v2/keys/t"), put("/v2/keys/t?ttl=100", "value=4"),
    put("/v2/keys/t", "prevExist=true&ttl=&value=5"), put("/v2/keys/t", "value=1&ttl=100"),
    put("/v2/keys/t", "refresh=true&ttl=300"), put("/v2/keys/t", "refresh=true"),
    put("/v2/keys/t", "refresh=true&ttl=5&value=x"), put("/v2/keys/t", "refresh=true&ttl=5&value="),
    put("/v2/keys/t", "refresh=true&ttl=300&prevExist=true"),
    put("/v2/keys/t", "refresh=true&ttl=300&prevValue=1"),
    put("/v2/keys/t", "refresh=true&ttl=300&prevValue=zz"),
    put("/v2/keys/nope", "refresh=true&ttl=5"), put("/v2/keys/t", "refresh=abc&ttl=5"),
    put("/v2/keys/t", "refresh=false&value=6"),
    // A refresh notifies no watcher: the watch sees the write after it.
    watch(
      "/v2/keys/t?wait=true", after: put("/v2/keys/t", "refresh=true&ttl=100"),
      put("/v2/keys/t", "value=7")),
  ]

  static let directories: [Step] = [
    put("/v2/keys/d", "dir=true"), put("/v2/keys/d", "dir=true"), put("/v2/keys/d", "value=1"),
    put("/v2/keys/d", "dir=true&prevExist=false"),
    put("/v2/keys/d", "dir=true&ttl=100&prevExist=true"),
    put("/v2/keys/d", "dir=true&ttl=&prevExist=true"), put("/v2/keys/d", "prevValue=x&value=1"),
    put("/v2/keys/d", "dir=abc"), put("/v2/keys/d/x", "value=1"), put("/v2/keys/d/y/z", "value=2"),
    put("/v2/keys/d/_h", "value=hidden"), get("/v2/keys/d"), get("/v2/keys/d?recursive=true"),
    get("/v2/keys/d?recursive=true&sorted=true"), get("/v2/keys/d/_h"), get("/v2/keys/d/x/sub"),
    delete("/v2/keys/d"), delete("/v2/keys/d?dir=true"), delete("/v2/keys/d?prevValue=x"),
    delete("/v2/keys/d/x?dir=true"), delete("/v2/keys/d/y?dir=true&recursive=true"),
    put("/v2/keys/d2", "dir=true&value=x"), put("/v2/keys/a?dir=true"), get("/v2/keys/a"),
    delete("/v2/keys/a?dir=true"), put("/v2/keys/d3", "dir=true&ttl=100"), get("/v2/keys/d3"),
    post("/v2/keys/d3?dir=true"), get("/v2/keys/d3?recursive=true"),
  ]

  static let deletes: [Step] = [
    put("/v2/keys/c", "value=1"), delete("/v2/keys/c?prevValue=2"),
    delete("/v2/keys/c?prevIndex=1"), delete("/v2/keys/c?prevIndex=abc"),
    delete("/v2/keys/c?prevValue="), delete("/v2/keys/c?prevValue=1&prevIndex=1"),
    delete("/v2/keys/c?prevValue=1"), put("/v2/keys/c", "value=2"),
    delete("/v2/keys/c?prevIndex={index}"), delete("/v2/keys/c"), delete("/v2/keys/c?prevValue=1"),
    // Only the answers of set, create, update and compareAndSwap lose their nodes.
    put("/v2/keys/c", "value=3&noValueOnSuccess=true&prevExist=false"),
    put("/v2/keys/c", "value=4&noValueOnSuccess=true&prevExist=true"),
    put("/v2/keys/c", "value=5&noValueOnSuccess=true&prevValue=4"),
    put("/v2/keys/c", "value=6&noValueOnSuccess=true&prevValue=4"),
    delete("/v2/keys/c?noValueOnSuccess=true"),
    delete("/v2/keys/d?recursive=true"),
    // Go reads no form from a DELETE's body: this is an unconditional delete.
    delete("/v2/keys/b", "prevValue=nothing"), delete("/v2/keys/d2?dir=true"),
  ]

  static let inOrder: [Step] = [
    post("/v2/keys/q", "value=j1"), post("/v2/keys/q", "value=j2&ttl=100"),
    get("/v2/keys/q?sorted=true"), post("/v2/keys/q"), delete("/v2/keys{key}?prevIndex={index}"),
    post("/v2/keys/q", "prevExist=false&value=j3&noValueOnSuccess=true"),
    post("/v2/keys/q?dir=true"),
    get("/v2/keys/q?recursive=true&sorted=true"), post("/v2/keys/", "value=r"),
    get("/v2/keys/?sorted=true"),
  ]

  static let paths: [Step] = [
    put("/v2/keys/sp%20ace", "value=1"), get("/v2/keys/sp%20ace"),
    put("/v2/keys/enc%2Fslash", "value=1"), get("/v2/keys/enc?recursive=true"),
    put("/v2/keys/%C3%A9", "value=%E2%82%AC"), get("/v2/keys/%C3%A9"),
    put("/v2/keys/_hidden", "value=1"), get("/v2/keys/_hidden"), put("/v2/keys/a/", "value=1"),
    get("/v2/keys/?recursive=true&sorted=true"),
    // Broken escapes in the path are refused before any handler; in the
    // query they are the handler's to refuse.
    put("/v2/keys/ab%ZZ", "value=1"), put("/v2/keys/ab%4", "value=1"),
    get("/v2/keys/ab?x=%ZZ"),
  ]

  static let watches: [Step] = [
    get("/v2/keys/a?wait=true&waitIndex=4"), get("/v2/keys/d?wait=true&waitIndex=1"),
    get("/v2/keys/d?wait=true&recursive=true&waitIndex=1"),
    get("/v2/keys/?wait=true&recursive=true&waitIndex=1"),
    watch("/v2/keys/w?wait=true", after: put("/v2/keys/w", "value=1")),
    watch("/v2/keys/w?wait=true", after: delete("/v2/keys/w?prevValue=1")),
    watch("/v2/keys/wd?wait=true&recursive=true", after: put("/v2/keys/wd/x/y", "value=1")),
    // A watcher below a deleted directory hears of the directory's deletion.
    watch("/v2/keys/wd/x/y?wait=true", after: delete("/v2/keys/wd?recursive=true")),
    // Hidden keys make no event for a recursive watcher above them.
    watch(
      "/v2/keys/?wait=true&recursive=true", after: put("/v2/keys/_hid", "value=1"),
      put("/v2/keys/vis", "value=1")),
    watch("/v2/keys/q?wait=true&recursive=true", after: post("/v2/keys/q", "value=j4")),
    .stream(
      Request(method: "GET", target: "/v2/keys/s?wait=true&stream=true"), events: 2,
      writes: [put("/v2/keys/s", "value=1"), put("/v2/keys/s", "value=2")]),
    // Expiry is the leader's to decide within about a second; the watch
    // waits for the expire event.
    put("/v2/keys/e", "value=1&ttl=1"), get("/v2/keys/e?wait=true&waitIndex={index+1}"),
    get("/v2/keys/e"),
    // etcd takes ttl=0 as an expiration at the instant of the request.
    put("/v2/keys/z", "value=1&ttl=0"),
    get("/v2/keys/z?wait=true&waitIndex={index+1}"), get("/v2/keys/z"),
  ]

  /// 1100 events push the first ones out of the 1000-event history.
  static let history: [Step] = [
    .fill(key: "fill", count: 1100), get("/v2/keys/fill"),
    // The oldest event kept, then the newest one gone.
    get("/v2/keys/fill?wait=true&waitIndex={index-999}"),
    get("/v2/keys/fill?wait=true&waitIndex={index-1000}"),
    get("/v2/keys/fill?wait=true&waitIndex=5"), get("/v2/keys/a?wait=true&waitIndex=5"),
    get("/v2/keys/fill?wait=true&waitIndex={index}"), get("/v2/stats/store"),
    get("/v2/keys/?recursive=true&sorted=true"),
  ]
}

/// One request of the script. Its target and form may name what the
/// answering server's previous answer held: `{index}` (the modifiedIndex of
/// its node; `{index+1}`, `{index-999}` with an offset) and `{key}` (that
/// node's key). A drift of swetcd's indexes is reported by the comparison;
/// the placeholders keep it from turning every later condition into a
/// mismatch of its own.
struct Request: Sendable {
  var method: String
  var target: String
  var form: String?
  var contentType = Request.formType

  static let formType = "application/x-www-form-urlencoded"
}

enum Step: Sendable {
  case send(Request)
  /// A watch that must be waiting before `writes` are sent; its answer is
  /// compared after theirs.
  case watch(Request, writes: [Step])
  /// A stream watch, read until it has carried `events` events.
  case stream(Request, events: Int, writes: [Step])
  /// `count` concurrent PUTs of one key: many events, quickly.
  case fill(key: String, count: Int)
}

/// One of the two servers, and what its previous answer named.
final class Server: @unchecked Sendable {
  let name: String
  let port: Int
  /// Its own URLs and member ID, which differ from the other server's by
  /// design (the ID is derived from the peer URLs), and what stands for
  /// them in a compared answer.
  let ownValues: [(String, String)]
  /// The store's successful gets before the script: each /health is one,
  /// and the harness polls it as often as the start takes.
  let getsBefore: Int
  var index = 0
  var key = ""

  init(name: String, port: Int, peerPort: Int) {
    self.name = name
    self.port = port
    let members = Harness.http("GET", port: port, "/v2/members")?.json?["members"] as? [Any]
    let id = (members?.first as? [String: Any])?["id"] as? String ?? "unknown"
    ownValues = [
      ("http://127.0.0.1:\(port)", "<client URL>"), ("http://127.0.0.1:\(peerPort)", "<peer URL>"),
      (id, "<member ID>"),
    ]
    getsBefore =
      Harness.http("GET", port: port, "/v2/stats/store")?.json?["getsSuccess"] as? Int ?? 0
  }

  func resolve(_ template: String) -> String {
    template.replacing(/\{index([+-][0-9]+)?\}/) { match in
      String(index + (match.1.flatMap { Int($0) } ?? 0))
    }.replacingOccurrences(of: "{key}", with: key)
  }

  func resolve(_ request: Request) -> String {
    var line = request.method + " " + resolve(request.target)
    if let form = request.form { line += " -d '\(resolve(form))'" }
    if request.contentType != Request.formType {
      line += " (\(request.contentType))"
    }
    return line
  }

  /// Sends `request`; its socket, to be read with Harness.receive.
  func open(_ request: Request) -> Int32? {
    // Long enough for an expiry to come around.
    Harness.send(
      request.method, port: port, resolve(request.target), form: request.form.map(resolve),
      contentType: request.contentType, timeout: 5)
  }

  func exchange(_ request: Request) -> HTTPAnswer? {
    guard let fd = open(request) else { return nil }
    defer { close(fd) }
    return Harness.receive(fd)
  }

  /// Remembers the node an answer carries, for the next placeholders; not
  /// a watch's, whose node is an old event's when it comes from history.
  func note(_ answer: HTTPAnswer?, to request: Request) {
    guard !request.target.contains("wait=true"),
      let node = answer?.json?["node"] as? [String: Any],
      let modified = node["modifiedIndex"] as? NSNumber
    else { return }
    index = modified.intValue
    key = node["key"] as? String ?? ""
  }

  var watchers: Int {
    let stats = Harness.http("GET", port: port, "/v2/stats/store")?.json
    return (stats?["watchers"] as? NSNumber)?.intValue ?? -1
  }

  func replacingOwnValues(_ text: String) -> String {
    ownValues.reduce(text) { $0.replacingOccurrences(of: $1.0, with: $1.1) }
  }
}

/// Runs the script on both servers and collects every difference.
final class Comparison {
  let etcd: Server
  let swetcd: Server
  private(set) var compared = 0
  private(set) var mismatches: [String] = []

  init(etcd: Server, swetcd: Server) {
    self.etcd = etcd
    self.swetcd = swetcd
  }

  func run(_ step: Step) {
    switch step {
    case .send(let request):
      let sent = (etcd.resolve(request), swetcd.resolve(request))
      let answers = onBoth { $0.exchange(request) }
      etcd.note(answers.etcd, to: request)
      swetcd.note(answers.swetcd, to: request)
      compare(request, sent: sent, answers)
      realign(answers)
    case .watch(let request, let writes):
      watch(request, writes: writes) { Harness.receive($0) }
    case .stream(let request, let events, let writes):
      watch(request, writes: writes) { fd in
        Harness.receive(fd) { $0.body.split(separator: "\n").count >= events }
      }
    case .fill(let key, let count):
      fill(key, count: count)
    }
  }

  /// Starts `request` on both, waits until both have registered it, sends
  /// `writes`, then reads both answers with `read`.
  private func watch(
    _ request: Request, writes: [Step], read: @escaping @Sendable (Int32) -> HTTPAnswer?
  ) {
    let sent = (etcd.resolve(request), swetcd.resolve(request))
    let before = (etcd.watchers, swetcd.watchers)
    let sockets = (etcd.open(request), swetcd.open(request))
    // A server that answers at once (wrongly) is not waited for long; its
    // answer shows the difference.
    _ = Harness.waitFor(3) { etcd.watchers > before.0 && swetcd.watchers > before.1 }
    for write in writes { run(write) }
    let answers = onBoth { [etcd] server in
      let fd = server === etcd ? sockets.0 : sockets.1
      return fd.flatMap(read)
    }
    compare(request, sent: sent, answers)
    // Stream watchers go away once their connection is closed; wait for
    // that so the next watch's count starts from a settled number.
    for fd in [sockets.0, sockets.1] { if let fd { close(fd) } }
    _ = Harness.waitFor(3) { etcd.watchers == before.0 && swetcd.watchers == before.1 }
  }

  /// Writes to the server whose index fell behind until both stand at the
  /// same index again. Its drift is a mismatch reported already (by the
  /// index headers that differ); left alone it would make every later index
  /// a mismatch of its own. A hidden key shows in no listing and no
  /// recursive watch; only the store's counters keep a trace.
  private func realign(_ answers: (etcd: HTTPAnswer?, swetcd: HTTPAnswer?)) {
    guard let want = answers.etcd?.headers["x-etcd-index"].flatMap({ Int($0) }),
      let got = answers.swetcd?.headers["x-etcd-index"].flatMap({ Int($0) }),
      want > 0, got > 0, want != got
    else { return }
    let behind = want < got ? etcd : swetcd
    for _ in 0..<min(abs(want - got), 100) {
      _ = Harness.http("PUT", port: behind.port, "/v2/keys/_realign", form: "value=x")
    }
    mismatches[mismatches.count - 1] +=
      "\n(indexes drifted apart here: \(abs(want - got)) writes of the hidden key /_realign"
      + " to \(behind.name) realign them for the steps after)"
  }

  /// Fills the history of both servers; the same value every time, so the
  /// interleaving of concurrent writes changes nothing but who got which index.
  private func fill(_ key: String, count: Int) {
    let failures = Counter()
    let threads = 16
    onThreads(2 * threads) { [etcd, swetcd] worker in
      let server = worker % 2 == 0 ? etcd : swetcd
      for _ in stride(from: worker / 2, to: count, by: threads) {
        let answer = Harness.http(
          "PUT", port: server.port, "/v2/keys/" + key, form: "value=x", timeout: 10)
        if answer.map({ $0.status == 200 || $0.status == 201 }) != true { failures.add() }
      }
    }
    if failures.value > 0 {
      mismatches.append("fill: \(failures.value) of \(2 * count) PUTs failed")
    }
  }

  /// The same call on both servers at once (each may block on its own
  /// server's fsync or expiry).
  private func onBoth(_ body: @escaping @Sendable (Server) -> HTTPAnswer?) -> (
    etcd: HTTPAnswer?, swetcd: HTTPAnswer?
  ) {
    let answers = AnswerPair()
    onThreads(2) { [etcd, swetcd] side in
      if side == 0 { answers.etcd = body(etcd) } else { answers.swetcd = body(swetcd) }
    }
    return (answers.etcd, answers.swetcd)
  }

  /// `sent` is the request as each server got it, placeholders filled.
  private func compare(
    _ request: Request, sent: (etcd: String, swetcd: String),
    _ answers: (etcd: HTTPAnswer?, swetcd: HTTPAnswer?)
  ) {
    compared += 1
    guard answers.etcd != nil else {
      mismatches.append("step \(compared): \(sent.etcd)\netcd gave no answer: the script is wrong")
      return
    }
    let sorted = request.target.contains("sorted=")
    let expected = Canonical(answers.etcd, from: etcd, sorted: sorted)
    var actual = Canonical(answers.swetcd, from: swetcd, sorted: sorted)
    actual.body =
      zip(expected.body, actual.body).map { allowingTTLDrift($1, from: $0) }
      + actual.body.dropFirst(expected.body.count)
    let (want, got) = (expected.text, actual.text)
    guard want != got else { return }
    var report = "step \(compared): \(sent.etcd)\n"
    if sent.swetcd != sent.etcd { report += "   (swetcd's: \(sent.swetcd))\n" }
    report += "(- etcd 3.4.23, + swetcd)\n" + diff(want, got)
    mismatches.append(report)
  }
}

/// The parts of an answer that must equal etcd's: the status, the headers
/// clients read, the body as JSON with by-design differences replaced.
struct Canonical {
  var head: [String]
  /// One JSON value per line of a JSON body (a stream carries several), or
  /// the text of another body.
  var body: [Any]

  init(_ answer: HTTPAnswer?, from server: Server, sorted: Bool) {
    guard let answer else {
      head = ["no answer within 5 s"]
      body = []
      return
    }
    head = ["\(answer.status)"]
    for name in [
      "x-etcd-index", "content-type", "location", "allow", "access-control-allow-origin",
    ] {
      if let value = answer.headers[name] {
        head.append(name + ": " + server.replacingOwnValues(value))
      }
    }
    // Each member has a cluster ID of its own.
    if answer.headers["x-etcd-cluster-id"] != nil { head.append("x-etcd-cluster-id: <id>") }
    let text = server.replacingOwnValues(answer.body)
    let values = text.split(separator: "\n").map {
      try? JSONSerialization.jsonObject(with: Data($0.utf8), options: .fragmentsAllowed)
    }
    if !values.isEmpty, values.allSatisfy({ $0 is [String: Any] }) {
      body = values.map { value in
        var object = value as! [String: Any]
        if let gets = object["getsSuccess"] as? Int {
          object["getsSuccess"] = gets - server.getsBefore
        }
        return normalized(object, sorted: sorted)
      }
    } else {
      body = text.isEmpty ? [] : [text]
    }
  }

  var text: String {
    let lines = body.map { value in
      if let text = value as? String { return text }
      let data = try? JSONSerialization.data(
        withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
      return data.map { String(decoding: $0, as: UTF8.self) } ?? "\(value)"
    }
    return (head + lines).joined(separator: "\n")
  }
}

/// `value` with what differs between two correct servers replaced: the
/// expiration instant (the servers' clocks read at different moments; its
/// presence still counts) and the order of a listing that did not ask for
/// `sorted` (etcd's is Go's random map order).
private func normalized(_ value: Any, sorted: Bool) -> Any {
  if let array = value as? [Any] { return array.map { normalized($0, sorted: sorted) } }
  guard var object = value as? [String: Any] else { return value }
  for (name, field) in object {
    switch name {
    case "expiration" where field is String: object[name] = "<expiration>"
    case "nodes" where !sorted:
      let nodes = (field as? [[String: Any]] ?? []).sorted {
        ($0["key"] as? String ?? "") < ($1["key"] as? String ?? "")
      }
      object[name] = normalized(nodes, sorted: sorted)
    default: object[name] = normalized(field, sorted: sorted)
    }
  }
  return object
}

/// `value` with each `ttl` that is within one second of the reference's
/// set to the reference's: a TTL is the seconds left, rounded up, when the
/// answer was made, and the two servers do not answer at the same instant.
private func allowingTTLDrift(_ value: Any, from reference: Any) -> Any {
  if let array = value as? [Any], let model = reference as? [Any] {
    return zip(array, model).map { allowingTTLDrift($0, from: $1) } + array.dropFirst(model.count)
  }
  guard var object = value as? [String: Any], let model = reference as? [String: Any] else {
    return value
  }
  for (name, field) in object {
    guard let expected = model[name] else { continue }
    if name == "ttl", let ttl = field as? NSNumber, let want = expected as? NSNumber,
      abs(ttl.intValue - want.intValue) <= 1
    {
      object[name] = want
    } else {
      object[name] = allowingTTLDrift(field, from: expected)
    }
  }
  return object
}

/// Runs `body(0)` … `body(count - 1)` each on a thread of its own (blocking
/// socket calls would starve Dispatch's pool of two threads on this
/// machine) and waits for all; every call inside is bounded by socket
/// timeouts.
private func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
  let group = DispatchGroup()
  for worker in 0..<count {
    group.enter()
    Thread {
      body(worker)
      group.leave()
    }.start()
  }
  group.wait()
}

private final class AnswerPair: @unchecked Sendable {
  var etcd: HTTPAnswer?
  var swetcd: HTTPAnswer?
}

private final class Counter: @unchecked Sendable {
  private let lock = NSLock()
  private var count = 0

  func add() { lock.withLock { count += 1 } }
  var value: Int { lock.withLock { count } }
}
