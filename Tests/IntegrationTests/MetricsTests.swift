import Foundation
import Testing

/// `/metrics` on the client port, against etcd 3.4.23's.
@Suite("/metrics against etcd 3.4.23")
struct MetricsTests {
  /// The `# TYPE name type` lines of a Prometheus text page.
  func types(_ page: String) -> Set<String> {
    Set(page.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map(String.init))
  }

  @Test("every metric swetcd exports has etcd's name and type; etcdctl check datascale passes")
  func metricsAsEtcd() throws {
    try Harness.withReferenceAndMember { reference, member in
      let theirs = Harness.curl(reference.clientURL + "/metrics")
      let ours = Harness.curl(member.clientURL + "/metrics")
      try #require(types(theirs).count > 100, "etcd's page: \(theirs.prefix(300))")
      #expect(types(ours).count >= 18)
      #expect(
        types(ours).subtracting(types(theirs)).isEmpty, "\(types(ours).subtracting(types(theirs)))")
      let resident = ours.split(separator: "\n").first {
        $0.hasPrefix("process_resident_memory_bytes ")
      }
      #expect((resident?.split(separator: " ").last).flatMap { Double($0) } ?? 0 > 1_000_000)
      #expect(ours.contains("\netcd_server_has_leader 1\n"))
      #expect(ours.contains("\netcd_server_is_leader 1\n"))
      // It reads process_resident_memory_bytes before and after 10,000 puts.
      let check = Harness.run(
        [
          "env", "ETCDCTL_API=3", "etcdctl", "--endpoints", member.clientURL, "check", "datascale",
          "--load=s",
        ], timeout: 120, withErrors: true)
      #expect(check.contains("PASS: Approximate system memory used"), "\(check.suffix(500))")
    }
  }

  @Test("--listen-metrics-urls: /metrics and /health alone, as etcd serves them")
  func metricsListener() throws {
    try withScratch { dir in
      let ports = (Harness.freePort(), Harness.freePort())
      let reference = ReferenceEtcd(
        dataDir: dir + "/reference.etcd",
        extraArguments: ["--listen-metrics-urls", "http://127.0.0.1:\(ports.0)"])
      try reference.start()
      defer { reference.kill() }
      try Harness.withSingleMember(
        extraArguments: ["--listen-metrics-urls", "http://127.0.0.1:\(ports.1)"]
      ) { member, _ in
        try #require(Harness.waitFor(15) { reference.isHealthy })
        var answers: [[String]] = []
        for port in [ports.0, ports.1] {
          var seen: [String] = []
          for (method, path) in [("GET", "/health"), ("GET", "/version"), ("POST", "/health")] {
            let answer = Harness.http(method, port: port, path)
            seen.append(
              "\(method) \(path): \(answer?.status ?? 0) \(answer?.headers["allow"] ?? "")"
                + " \(answer?.headers["content-type"] ?? "")"
                + " cors=\(answer?.headers["access-control-allow-origin"] != nil) \(answer?.body ?? "")"
            )
          }
          let metrics = Harness.http("GET", port: port, "/metrics")
          seen.append(
            "metrics: \(metrics?.status ?? 0) \(metrics?.body.contains("etcd_server_has_leader 1") == true)"
          )
          answers.append(seen)
        }
        #expect(
          answers[0][0]
            == "GET /health: 200  text/plain; charset=utf-8 cors=false {\"health\":\"true\"}")
        #expect(answers[0].last == "metrics: 200 true")
        #expect(answers[1] == answers[0])
      }
    }
  }
}
