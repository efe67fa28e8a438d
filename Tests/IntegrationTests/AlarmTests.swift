import EtcdProto
import Foundation
import Net
import Testing

/// The space quota and alarms, end to end with etcdctl 3.4, curl and raw
/// gRPC (clients/alarm_rpc.py): the same steps run against etcd 3.4.23 and
/// swetcd, started with the same flags, and every output must be the same
/// once member IDs, URLs, revisions and timings are normalized.
@Suite("NOSPACE alarm against etcd 3.4.23", .serialized)
struct AlarmTests {
  /// Reached by about twenty 10 kB values, on bbolt and on LMDB alike.
  static let quotaBytes = "300000"

  /// One server under test: where it listens, and how to crash and restart it.
  struct Server {
    let clientURL: String
    let clientPort: Int
    let crashAndRestart: () throws -> Void
  }

  @Test(
    "fill to the quota: alarm, reads and deletes pass, status and health show it; compact, defrag and disarm recover; the alarm survives kill -9"
  )
  func spaceQuota() throws {
    try withScratch { dir in
      let reference = ReferenceEtcd(
        dataDir: dir + "/reference.etcd",
        extraArguments: ["--quota-backend-bytes", Self.quotaBytes])
      try reference.start()
      defer { reference.kill() }
      let member = Member(name: "default", dataDir: dir + "/default.etcd")
      member.start(
        initialCluster: "default=\(member.peerURL)",
        extraArguments: ["-quota-backend-bytes", Self.quotaBytes])
      defer { member.crash() }
      try #require(
        Harness.waitFor(15) { member.isUp && reference.isHealthy },
        "servers did not come up; etcd's log ends:\n\(reference.logTail)")

      let expected = try Self.transcript(
        Server(
          clientURL: reference.clientURL, clientPort: reference.clientPort,
          crashAndRestart: reference.crashAndRestart))
      let actual = try Self.transcript(
        Server(
          clientURL: member.clientURL, clientPort: member.clientPort,
          crashAndRestart: {
            member.crash()
            member.restart()
          }))

      // The reference shows what the steps must produce, so that agreeing
      // with it is not agreeing on nothing.
      #expect(expected.contains("alarm list => memberID:<ID> alarm:NOSPACE \n"), "\(expected)")
      #expect(actual.count == expected.count)
      for (got, want) in zip(actual, expected) {
        #expect(got == want)
      }
    }
  }

  @Test(
    "three members: each holds every member's NOSPACE alarm and refuses puts; one disarm clears them all"
  )
  func cluster() throws {
    try withScratch { dir in
      let members = ["a", "b", "c"].map { Member(name: $0, dataDir: dir + "/" + $0 + ".etcd") }
      let initialCluster = members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
      for member in members {
        member.start(
          initialCluster: initialCluster, extraArguments: ["-quota-backend-bytes", Self.quotaBytes])
      }
      defer { for member in members { member.crash() } }
      try #require(Harness.waitFor(15) { members.allSatisfy(\.isUp) }, "members did not come up")
      func ctl(_ member: Member, _ arguments: String...) -> String {
        Harness.run(
          ["ETCDCTL_API=3", "etcdctl", "--endpoints", member.clientURL, "--command-timeout=5s"]
            + arguments, timeout: 8, withErrors: true)
      }
      let value = String(repeating: "x", count: 10_000)
      var refused = false
      for index in 1...60 where !refused {
        refused = ctl(members[index % 3], "put", "k\(index)", value) != "OK\n"
      }
      #expect(refused, "60 puts of 10 kB never exceeded a 300000-byte quota")
      // Each member refuses from its own quota check and raises its own
      // alarm, as etcd's members do; all of them hold every alarm.
      for member in members {
        #expect(
          ctl(member, "put", "a", "b").hasSuffix(
            "Error: etcdserver: mvcc: database space exceeded\n"))
      }
      let list = ctl(members[0], "alarm", "list")
      let alarms = list.split(separator: "\n")
      #expect(
        !alarms.isEmpty && alarms.allSatisfy { $0.hasSuffix(" alarm:NOSPACE ") }, "\(list)")
      for member in members {
        #expect(ctl(member, "alarm", "list") == list)
        #expect(
          ctl(member, "endpoint", "status").hasSuffix(", " + alarms.joined(separator: ", ") + "\n"))
      }
      #expect(ctl(members[1], "del", "k1") == "1\n")
      #expect(ctl(members[2], "alarm", "disarm") == list)
      for member in members {
        #expect(Harness.waitFor(5) { ctl(member, "alarm", "list") == "" })
      }
    }
  }

  @Test(
    "Alarm RPC: activate, get by type, deactivate CORRUPT and NOSPACE, and what each lets through; same answers as etcd 3.4.23"
  )
  func alarmRPC() throws {
    let python = try Harness.python()
    let script = Harness.clientScript("alarm_rpc.py")
    try Harness.withReferenceAndMember { reference, member in
      let expected = Harness.run(
        [python, script, "127.0.0.1", "\(reference.clientPort)"], timeout: 60, withErrors: true)
      let actual = Harness.run(
        [python, script, "127.0.0.1", "\(member.clientPort)"], timeout: 60, withErrors: true)
      #expect(
        expected.contains("corrupt: put: DATA_LOSS etcdserver: corrupt cluster\n"), "\(expected)")
      let expectedLines = expected.split(separator: "\n")
      let actualLines = actual.split(separator: "\n")
      #expect(actualLines.count == expectedLines.count, "\(actual)")
      for (got, want) in zip(actualLines, expectedLines) {
        #expect(got == want)
      }
    }
  }

  /// The steps, one normalized line per command: `command => output`.
  static func transcript(_ server: Server) throws -> [String] {
    func ctl(_ arguments: [String]) -> String {
      Harness.run(
        ["ETCDCTL_API=3", "etcdctl", "--endpoints", server.clientURL, "--command-timeout=5s"]
          + arguments, timeout: 8, withErrors: true)
    }
    let hexID = try #require(
      ctl(["member", "list"]).split(separator: ",").first.map(String.init))
    let decimalID = try #require(UInt64(hexID, radix: 16)).description
    func normalize(_ output: String) -> String {
      // etcdctl's client logs its retries as JSON lines with times and
      // random client names; the "Error:" line after them is what counts.
      output.split(separator: "\n", omittingEmptySubsequences: false)
        .filter { !$0.hasPrefix("{\"level\"") }.joined(separator: "\n")
        .replacingOccurrences(of: decimalID, with: "<ID>")
        .replacingOccurrences(of: hexID, with: "<id>")
        .replacingOccurrences(of: server.clientURL, with: "<url>")
    }
    var lines: [String] = []
    func step(_ arguments: String...) {
      lines.append(arguments.joined(separator: " ") + " => " + normalize(ctl(arguments)))
    }
    func health(_ target: String) {
      let answer = Harness.http("GET", port: server.clientPort, target)
      let headers = ["content-type", "x-content-type-options"].map { answer?.headers[$0] ?? "-" }
      lines.append("GET \(target) => \(answer?.status ?? 0) \(headers) \(answer?.body ?? "")")
    }
    /// endpoint status without db size, raft term and indexes, which differ.
    func status() {
      let fields = normalize(ctl(["endpoint", "status"])).components(separatedBy: ", ")
      let kept = fields.enumerated().filter {
        [0, 1, 2, 4, 5].contains($0.offset) || $0.offset > 8
      }
      lines.append("endpoint status => " + kept.map(\.element).joined(separator: ", "))
    }
    func endpointHealth() -> String {
      let output = normalize(ctl(["endpoint", "health"]))
      return output.components(separatedBy: ": took = ").first ?? output
    }
    let value = String(repeating: "x", count: 10_000)
    /// Puts 10 kB values under `prefix` until one is refused (at most 60).
    func fill(_ prefix: String) {
      for index in 1...60 {
        let output = ctl(["put", "\(prefix)\(index)", value])
        guard output == "OK\n" else {
          lines.append("fill \(prefix) => " + normalize(output))
          return
        }
      }
      lines.append("fill \(prefix) => never refused")
    }
    /// `etcdctl txn` reading compares, then success and failure requests.
    func txn(_ script: String) {
      let output = Harness.run(
        [
          "sh", "-c",
          "printf '\(script)' | ETCDCTL_API=3 etcdctl --endpoints \(server.clientURL) txn",
        ], timeout: 8, withErrors: true)
      lines.append("txn \(script.debugDescription) => " + normalize(output))
    }
    /// Recovery as etcd's docs describe it, short of the disarm: free
    /// space, compact the history away, defragment.
    func recover(_ prefix: String) {
      // How many keys fit differs with the file format: just some.
      let deleted = Int(
        ctl(["del", prefix, "--prefix"]).trimmingCharacters(in: .whitespacesAndNewlines))
      lines.append("del \(prefix) --prefix => deleted some: \((deleted ?? 0) > 0)")
      let json = ctl(["get", "a", "-w", "json"])
      let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
      let header = object?["header"] as? [String: Any]
      let revision = (header?["revision"] as? NSNumber)?.stringValue ?? "?"
      let compacted = ctl(["compact", revision]).replacingOccurrences(of: revision, with: "<rev>")
      lines.append("compact => " + compacted)
      step("defrag")
    }

    fill("k")
    step("alarm", "list")
    step("alarm", "list", "-w", "json")
    step("put", "a", "b")
    lines.append("get k1 => \(ctl(["get", "k1", "--print-value-only"]).count) bytes")
    step("del", "k1")
    status()
    lines.append("endpoint health => " + endpointHealth())
    health("/health")
    health("/health?exclude=NOSPACE")
    health("/health?exclude=CORRUPT")

    recover("k1")
    // Space is free again, but until the disarm etcd refuses whatever
    // would store data: puts, txns with puts, lease grants.
    step("put", "a", "b")
    step("lease", "grant", "60")
    txn("value(\"a\") = \"nope\"\n\nput a c\n\ndel k2\n\n")
    txn("value(\"a\") = \"nope\"\n\nget a\n\ndel k2\n\n")
    step("alarm", "disarm")
    step("alarm", "disarm")
    step("alarm", "list", "-w", "json")
    step("put", "a", "b")
    status()
    health("/health")

    fill("m")
    step("alarm", "list")
    try server.crashAndRestart()
    lines.append(
      "restarted => \(Harness.waitFor(15) { endpointHealth().contains("is healthy") })")
    step("alarm", "list")
    step("put", "x", "y")
    recover("m")
    step("alarm", "disarm", "-w", "json")
    step("put", "x", "y")
    step("alarm", "list")
    return lines
  }

  @Test("activating NONE for member 0 changes nothing; the member serves on and restarts")
  func emptyAlarmActivation() throws {
    // etcd 3.4.23 applies this and stops on the empty backend key it
    // makes, on every member and at every restart (docs/api.md).
    try Harness.withSingleMember { member, _ in
      let client = try V3Client(port: member.clientPort)
      defer { client.close() }
      var activate = Etcdserverpb_AlarmRequest()
      activate.action = .activate
      let answer: Result<Etcdserverpb_AlarmResponse, GRPCStatus> = client.call(
        "/etcdserverpb.Maintenance/Alarm", activate)
      #expect(try answer.get().alarms.isEmpty)
      #expect(throws: Never.self) { try client.put("after", "1").get() }
      member.crash()
      member.restart()
      try #require(Harness.waitFor(15) { member.isUp }, "the member did not come back")
      let again = try V3Client(port: member.clientPort)
      defer { again.close() }
      #expect(throws: Never.self) { try again.put("after", "2").get() }
      let list: Result<Etcdserverpb_AlarmResponse, GRPCStatus> = again.call(
        "/etcdserverpb.Maintenance/Alarm", Etcdserverpb_AlarmRequest())
      #expect(try list.get().alarms.isEmpty)
    }
  }
}
