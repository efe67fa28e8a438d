import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Starts real `swetcd` processes (and the reference etcd) on loopback ports
/// and talks to them with curl or raw sockets. Everything started is stopped
/// by PID; every wait is bounded.
enum Harness {
  /// The swetcd binary built beside this test bundle.
  static var binary: String {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
    var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
    // The bundle may be a directory (.xctest/...) or a file.
    while !dir.path.isEmpty && dir.path != "/" {
      let candidate = dir.appendingPathComponent("swetcd").path
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
      dir = dir.deletingLastPathComponent()
    }
    return ".build/debug/swetcd"
  }

  /// The last 2000 characters of a process's log, for a failure message.
  static func logTail(_ path: String) -> String {
    let log = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    return String(log.suffix(2000))
  }

  /// Ports handed out by `freePort`, below Linux's ephemeral range
  /// (32768-60999): a port bound there and released may be taken by any
  /// outgoing connection before the member binds it, and some suites open
  /// thousands. Starting at a random point keeps two test runs apart.
  private static let portRange = 20_000..<32_768
  private static let nextPortOffset = Atomic<Int>(Int.random(in: 0..<(32_768 - 20_000)))

  /// A port nobody listens on right now, from `portRange`, not handed out
  /// before in this run (until the range wraps).
  static func freePort() -> Int {
    for _ in 0..<portRange.count {
      let offset = nextPortOffset.add(1, ordering: .relaxed).oldValue
      let port = portRange.lowerBound + offset % portRange.count
      if canBind(port) { return port }
    }
    return 0
  }

  private static func canBind(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
      }
    }
  }

  /// Runs a command to completion (at most `timeout` seconds); its stdout,
  /// followed by its stderr when `withErrors`.
  /// Output goes through a file, not a pipe: a member spawned meanwhile
  /// inherits open descriptors, and a pipe it holds would never reach EOF.
  static func run(_ arguments: [String], timeout: Double = 10, withErrors: Bool = false)
    -> String
  {
    let path = "/tmp/swetcd-it-out-" + UUID().uuidString
    // fopen, not FileManager.createFile: that leaves a scratch directory in
    // /tmp behind on every call.
    guard let created = fopen(path, "w") else { return "" }
    fclose(created)
    guard let output = FileHandle(forWritingAtPath: path) else { return "" }
    defer { try? FileManager.default.removeItem(atPath: path) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.standardOutput = output
    process.standardError = withErrors ? output : FileHandle.nullDevice
    do { try process.run() } catch { return "" }
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(5_000) }
    if process.isRunning { process.terminate() }
    try? output.close()
    return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
  }

  /// A blocking socket connected to 127.0.0.1:`port` whose sends, receives
  /// and connect give up after `timeout` seconds; the caller closes it.
  /// `receiveBuffer` shrinks the socket's buffer before connecting, so the
  /// advertised window stays small too.
  static func connectLoopback(port: Int, timeout: Int, receiveBuffer: Int32? = nil) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    if var size = receiveBuffer {
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
    // On Linux SO_SNDTIMEO bounds connect() too.
    var limit = timeval(tv_sec: timeout, tv_usec: 0)
    let size = socklen_t(MemoryLayout<timeval>.size)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, size)
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, size)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard connected == 0 else {
      close(fd)
      return nil
    }
    return fd
  }

  /// One HTTP/1.1 exchange over a fresh loopback connection, read to EOF;
  /// nil when it fails or any step takes over `timeout` seconds.
  static func http(
    _ method: String, port: Int, _ target: String, form: String? = nil, timeout: Int = 2
  ) -> HTTPAnswer? {
    guard let fd = send(method, port: port, target, form: form, timeout: timeout) else {
      return nil
    }
    defer { close(fd) }
    return receive(fd)
  }

  /// Connects to `port` on loopback and sends one request whose body, if
  /// any, is `form` as `contentType`; the socket, whose every step times
  /// out after `timeout` seconds, or nil.
  static func send(
    _ method: String, port: Int, _ target: String, form: String? = nil,
    contentType: String = "application/x-www-form-urlencoded", timeout: Int = 2
  ) -> Int32? {
    guard let fd = connectLoopback(port: port, timeout: timeout) else { return nil }
    var request = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if let form {
      request += "Content-Type: \(contentType)\r\n"
      request += "Content-Length: \(form.utf8.count)\r\n"
    }
    request += "\r\n" + (form ?? "")
    let bytes = Array(request.utf8)
    guard write(fd, bytes, bytes.count) == bytes.count else {
      close(fd)
      return nil
    }
    return fd
  }

  /// Reads the answer to a request sent on `fd` until the server closes the
  /// connection, or only until `enough` holds for what has arrived (a
  /// stream never ends); nil on a read error or timeout.
  static func receive(_ fd: Int32, until enough: ((HTTPAnswer) -> Bool)? = nil) -> HTTPAnswer? {
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while received.count < 64 << 20 {
      let n = read(fd, &buffer, buffer.count)
      if n < 0 { return nil }
      if n == 0 { return HTTPAnswer(String(decoding: received, as: UTF8.self)) }
      received += buffer[..<n]
      if let enough, let partial = HTTPAnswer(String(decoding: received, as: UTF8.self)),
        enough(partial)
      {
        return partial
      }
    }
    return nil
  }

  /// Starts `arguments` (the first is the executable's path) with stdout
  /// and stderr appended to `log`; its PID, 0 if it could not start.
  static func spawn(_ arguments: [String], log: String) -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    let argv = arguments.map { strdup($0) } + [nil]
    defer { for arg in argv { free(arg) } }
    var pid: pid_t = 0
    let failed = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
    posix_spawn_file_actions_destroy(&actions)
    return failed == 0 ? pid : 0
  }

  /// kill -9 and reap, so no zombie is left behind.
  static func killAndReap(_ pid: pid_t) {
    guard pid > 0 else { return }
    kill(pid, SIGKILL)
    var status: Int32 = 0
    waitpid(pid, &status, 0)
  }

  static func curl(_ arguments: String...) -> String {
    run(["curl", "-s", "-m", "3"] + arguments, timeout: 5)
  }

  /// Polls `condition` every 50 ms for at most `seconds`.
  static func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
      if condition() { return true }
      usleep(50_000)
    }
    return condition()
  }

  static let repository = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  /// The Python of the repository's venv, which tools/setup makes with the
  /// PyPI clients; the test fails without it.
  static func python() throws -> String {
    let python = repository.appendingPathComponent(".build-py/venv/bin/python").path
    try #require(
      FileManager.default.isExecutableFile(atPath: python),
      "no Python venv at \(python): run tools/setup")
    return python
  }

  /// A script in Tests/IntegrationTests/clients.
  static func clientScript(_ name: String) -> String {
    repository.appendingPathComponent("Tests/IntegrationTests/clients/" + name).path
  }

  /// Repeats `attempt` every 200 ms, for at most `seconds`, until its
  /// output satisfies `done`; returns the last output.
  static func retry(_ seconds: Double, _ attempt: () -> String, until done: (String) -> Bool)
    -> String
  {
    let deadline = Date().addingTimeInterval(seconds)
    var output = attempt()
    while !done(output) && Date() < deadline {
      usleep(200_000)
      output = attempt()
    }
    return output
  }

  /// Runs `body` against a started single-member cluster named "default"
  /// whose data lives in a scratch directory (also handed to `body`).
  static func withSingleMember(
    extraArguments: [String] = [], _ body: (Member, _ dir: String) throws -> Void
  ) throws {
    try withCluster(names: ["default"], extraArguments: extraArguments) { members, dir in
      try body(members[0], dir)
    }
  }

  /// Runs `body` against a fresh reference etcd and a fresh single swetcd
  /// member, both started with `extraArguments` and serving; both are
  /// killed afterwards.
  static func withReferenceAndMember(
    extraArguments: [String] = [], _ body: (ReferenceEtcd, Member) throws -> Void
  ) throws {
    try withScratch { dir in
      let reference = ReferenceEtcd(
        dataDir: dir + "/reference.etcd", extraArguments: extraArguments)
      try reference.start()
      defer { reference.kill() }
      try withSingleMember(extraArguments: extraArguments) { member, _ in
        try #require(
          Harness.waitFor(15) { reference.isHealthy },
          "etcd did not come up within 15 s; its log ends:\n\(reference.logTail)")
        try body(reference, member)
      }
    }
  }

  /// Runs `body` against started members that form one cluster; all of
  /// them are killed afterwards, whatever `body` did to them.
  static func withCluster(
    names: [String], extraArguments: [String] = [],
    _ body: ([Member], _ dir: String) throws -> Void
  ) throws {
    try withScratch { dir in
      var members: [Member] = []
      defer { for member in members { member.crash() } }
      for attempt in 1...3 {
        members = names.map { Member(name: $0, dataDir: dir + "/" + $0 + ".etcd") }
        let cluster = members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
        for member in members {
          member.start(initialCluster: cluster, extraArguments: extraArguments)
        }
        // A port checked free may be taken before the member binds it (it
        // has happened once, in CI): who holds it is printed, and the
        // cluster starts afresh on other ports.
        var portTaken = false
        _ = Harness.waitFor(15) {
          portTaken = members.contains { $0.logTail.contains("address already in use") }
          return portTaken || members.allSatisfy(\.isUp)
        }
        let down = members.filter { !$0.isUp }
        if down.isEmpty { break }
        let report = down.map { "\($0.name)'s log ends:\n\($0.logTail)" }
        try #require(attempt < 3 && portTaken, "members did not come up within 15 s: \(report)")
        print("retrying a cluster start on new ports: \(report)\n\(portHolders(members))")
        for member in members {
          member.crash()
          for path in [member.dataDir, member.dataDir + ".log"] {
            try? FileManager.default.removeItem(atPath: path)
          }
        }
      }
      try body(members, dir)
    }
  }

  /// The sockets on the members' ports, with their processes.
  private static func portHolders(_ members: [Member]) -> String {
    let ports = Set(members.flatMap { [$0.clientPort, $0.peerPort] })
    return run(["ss", "-tanp"], timeout: 5).split(separator: "\n").filter { line in
      ports.contains { line.contains(":\($0) ") }
    }.joined(separator: "\n")
  }
}

/// A whole HTTP/1.1 response with a Content-Length body.
struct HTTPAnswer {
  let status: Int
  /// Header names lower-cased.
  let headers: [String: String]
  let body: String

  init?(_ response: String) {
    guard let split = response.range(of: "\r\n\r\n") else { return nil }
    let lines = response[..<split.lowerBound].components(separatedBy: "\r\n")
    let statusLine = lines[0].split(separator: " ")
    guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
    self.status = status
    var headers: [String: String] = [:]
    for line in lines.dropFirst() {
      guard let colon = line.firstIndex(of: ":") else { continue }
      let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
      headers[line[..<colon].lowercased()] = value
    }
    self.headers = headers
    let raw = String(response[split.upperBound...])
    body = headers["transfer-encoding"] == "chunked" ? Self.dechunk(raw) : raw
  }

  /// The data of a chunked body, without a last chunk still on its way.
  static func dechunk(_ raw: String) -> String {
    var rest = Array(raw.utf8)[...]
    var data: [UInt8] = []
    while let lineEnd = rest.firstIndex(of: UInt8(ascii: "\r")),
      let size = Int(String(decoding: rest[..<lineEnd], as: UTF8.self), radix: 16), size > 0
    {
      let start = lineEnd + 2
      guard start + size <= rest.endIndex else { break }
      data += rest[start..<start + size]
      rest = rest[min(start + size + 2, rest.endIndex)...]
    }
    return String(decoding: data, as: UTF8.self)
  }

  /// The body as a JSON object, if it is one.
  var json: [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
  }
}

/// One swetcd member process.
final class Member {
  let name: String
  let clientPort: Int
  let peerPort: Int
  let dataDir: String
  var arguments: [String] = []
  private(set) var pid: pid_t = 0

  init(name: String, dataDir: String) {
    self.name = name
    self.dataDir = dataDir
    clientPort = Harness.freePort()
    peerPort = Harness.freePort()
  }

  var clientURL: String { "http://127.0.0.1:\(clientPort)" }
  var peerURL: String { "http://127.0.0.1:\(peerPort)" }

  /// `state` is --initial-cluster-state: "existing" joins a running cluster
  /// that has already added this member.
  func start(
    initialCluster: String, token: String = "integration", state: String = "new",
    extraArguments: [String] = []
  ) {
    arguments =
      [
        Harness.binary, "-name", name, "-data-dir", dataDir, "-listen-client-urls", clientURL,
        "-advertise-client-urls", clientURL, "-listen-peer-urls", peerURL,
        "-initial-advertise-peer-urls", peerURL, "-initial-cluster", initialCluster,
        "-initial-cluster-token", token, "-initial-cluster-state", state, "-log-level", "warn",
      ] + extraArguments
    spawn()
  }

  /// Starts the member again with the arguments of its last start, as an
  /// operator restarts a crashed member on its old data dir.
  func restart() {
    guard pid == 0 else { return }
    spawn()
  }

  private func spawn() {
    pid = Harness.spawn(arguments, log: dataDir + ".log")
  }

  /// kill -9: no chance to flush anything.
  func crash() {
    Harness.killAndReap(pid)
    pid = 0
  }

  /// Waits (at most `seconds`) for the process to exit on its own; its
  /// wait status, or nil if it is still running.
  func waitForExit(_ seconds: Double) -> Int32? {
    guard pid > 0 else { return nil }
    var status: Int32 = 0
    let exited = Harness.waitFor(seconds) { waitpid(pid, &status, WNOHANG) == pid }
    guard exited else { return nil }
    pid = 0
    return status
  }

  /// SIGTERM and wait (bounded) for a clean exit; returns the exit status.
  @discardableResult
  func stop() -> Int32 {
    guard pid > 0 else { return -1 }
    kill(pid, SIGTERM)
    var status: Int32 = 0
    for _ in 0..<100 {
      if waitpid(pid, &status, WNOHANG) == pid {
        pid = 0
        return status
      }
      usleep(50_000)
    }
    crash()
    return -1
  }

  var isUp: Bool { Harness.curl(clientURL + "/health").contains("\"true\"") }

  var logTail: String { Harness.logTail(dataDir + ".log") }

  func put(_ key: String, _ value: String) -> String {
    Harness.curl("-XPUT", clientURL + "/v2/keys/" + key, "-d", "value=" + value)
  }

  func get(_ key: String) -> String {
    Harness.curl(clientURL + "/v2/keys/" + key)
  }

  /// Raft's view: only the leader serves its leader stats (/v2/stats/self
  /// keeps a deposed leader's state until a new leader's append arrives).
  var isLeader: Bool { Harness.http("GET", port: clientPort, "/v2/stats/leader")?.status == 200 }
}

/// The real etcd 3.4 (Debian's etcd-server, installed by tools/setup): the
/// reference whose answers swetcd's must equal. A single member with the v2
/// API on, on its own loopback ports.
final class ReferenceEtcd {
  static let binary = "/usr/bin/etcd"
  let clientPort = Harness.freePort()
  let peerPort = Harness.freePort()
  let dataDir: String
  /// Flags added to the defaults, e.g. `--quota-backend-bytes`.
  let extraArguments: [String]
  private(set) var pid: pid_t = 0

  init(dataDir: String, extraArguments: [String] = []) {
    self.dataDir = dataDir
    self.extraArguments = extraArguments
  }

  var clientURL: String { "http://127.0.0.1:\(clientPort)" }
  var peerURL: String { "http://127.0.0.1:\(peerPort)" }

  /// Starts etcd with its log in `<dataDir>.log`; does not wait for it.
  func start() throws {
    try #require(
      FileManager.default.isExecutableFile(atPath: Self.binary),
      "\(Self.binary) is missing: run tools/setup (it installs Debian's etcd-server)")
    pid = Harness.spawn(
      [
        Self.binary, "--enable-v2", "--name", "default", "--data-dir", dataDir,
        "--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
        "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
        "--initial-cluster", "default=" + peerURL,
      ] + extraArguments, log: dataDir + ".log")
    try #require(pid > 0, "cannot start \(Self.binary)")
  }

  /// kill -9, then start again on the same data dir and ports.
  func crashAndRestart() throws {
    kill()
    try start()
  }

  func kill() {
    Harness.killAndReap(pid)
    pid = 0
  }

  var logTail: String { Harness.logTail(dataDir + ".log") }

  var isHealthy: Bool {
    Harness.http("GET", port: clientPort, "/health")?.json?["health"] as? String == "true"
  }
}

/// A fresh directory for one test's data dirs, removed afterwards.
func withScratch(_ body: (String) throws -> Void) rethrows {
  let dir = "/tmp/swetcd-it-" + UUID().uuidString
  try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(atPath: dir) }
  try body(dir)
}
