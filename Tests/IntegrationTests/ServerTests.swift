import EtcdProto
import Foundation
import Net
import Testing

/// Real swetcd processes on loopback, driven with curl.
@Suite("swetcd processes end to end", .serialized)
struct ServerProcessTests {
  @Test("a single member serves v2 and keeps acknowledged writes across kill -9")
  func singleMemberDurability() throws {
    try Harness.withSingleMember { member, _ in
      var acknowledged: [String] = []
      for i in 0..<20 {
        if member.put("k\(i)", "v\(i)").contains("\"action\":\"set\"") {
          acknowledged.append("k\(i)")
        }
      }
      #expect(acknowledged.count == 20)
      member.crash()
      member.restart()
      #expect(Harness.waitFor(10) { member.isUp })
      for key in acknowledged {
        let number = key.dropFirst()
        #expect(member.get(key).contains("\"value\":\"v\(number)\""), "lost \(key)")
      }
      #expect(member.stop() == 0, "SIGTERM ends the member with status 0")
    }
  }

  @Test("16 MiB of entries call for a snapshot before --snapshot-count; a restart starts from it")
  func snapshotByLogBytes() throws {
    try Harness.withSingleMember(extraArguments: ["-experimental-snapshot-catchup-entries", "50"]) {
      member, _ in
      func snapshots() -> [String] {
        let files = try? FileManager.default.contentsOfDirectory(
          atPath: member.dataDir + "/member/snap")
        return (files ?? []).filter { $0.hasSuffix(".snap") }
      }
      #expect(snapshots().isEmpty)
      let client = try V3Client(port: member.clientPort)
      defer { client.close() }
      // 100 entries of 200 KB: far under the 100,000 of --snapshot-count.
      let value = String(repeating: "v", count: 200_000)
      for i in 0..<100 {
        try #require(throws: Never.self) { try client.put("big\(i)", value).get() }
      }
      #expect(Harness.waitFor(10) { !snapshots().isEmpty }, "a snapshot after 20 MB of puts")
      member.crash()
      member.restart()
      try #require(Harness.waitFor(15) { member.isUp })
      let restarted = try V3Client(port: member.clientPort)
      defer { restarted.close() }
      var count = Etcdserverpb_RangeRequest()
      count.key = Data("big".utf8)
      count.rangeEnd = Data("bih".utf8)
      count.countOnly = true
      let counted: Result<Etcdserverpb_RangeResponse, GRPCStatus> = restarted.call(
        "/etcdserverpb.KV/Range", count)
      #expect((try? counted.get().count) == 100)
      var last = Etcdserverpb_RangeRequest()
      last.key = Data("big99".utf8)
      let read: Result<Etcdserverpb_RangeResponse, GRPCStatus> = restarted.call(
        "/etcdserverpb.KV/Range", last)
      #expect((try? read.get().kvs.first?.value.count) == 200_000)
    }
  }

  @Test("--enable-v2=false: every /v2 path is not found, as on etcd; v3 and /health serve")
  func withoutV2() throws {
    try Harness.withSingleMember(extraArguments: ["--enable-v2=false"]) { member, _ in
      for path in [
        "/v2/keys/a", "/v2/members", "/v2/members/leader", "/v2/machines", "/v2/stats/self",
        "/v2/stats/store",
      ] {
        let answer = Harness.http("GET", port: member.clientPort, path)
        #expect(answer?.status == 404 && answer?.body == "404 page not found\n", "\(path)")
      }
      #expect(Harness.http("GET", port: member.clientPort, "/version")?.status == 200)
      let client = try V3Client(port: member.clientPort)
      defer { client.close() }
      #expect(throws: Never.self) { try client.put("k", "v").get() }
    }
  }

  @Test("--auto-compaction-retention=2s: history older than 2 s is compacted away")
  func autoCompaction() throws {
    try Harness.withSingleMember(extraArguments: ["--auto-compaction-retention=2s"]) { member, _ in
      for value in 1...3 {
        #expect(EtcdctlV3MemberTests.ctl(member, "put", "k", "\(value)") == "OK\n")
      }
      func old() -> String { EtcdctlV3MemberTests.ctl(member, "get", "k", "--rev=2") }
      #expect(old().hasPrefix("k\n1\n"), "revision 2 is there at first")
      // The first compaction (at 2 s) keeps what was there at the start;
      // the second (at 4 s) compacts to the revision of 2 s before it.
      let compacted = Harness.retry(8, old) { $0.contains("compacted") }
      #expect(
        compacted == "Error: etcdserver: mvcc: required revision has been compacted\n",
        "\(compacted)")
      #expect(EtcdctlV3MemberTests.ctl(member, "get", "k", "--print-value-only") == "3\n")
    }
  }

  @Test("--max-snapshots=1: one snapshot file is kept, and a restart starts from it")
  func maxSnapshots() throws {
    try Harness.withSingleMember(extraArguments: ["--snapshot-count=20", "--max-snapshots=1"]) {
      member, _ in
      for i in 0..<100 { #expect(member.put("k\(i)", "v").contains("\"value\"")) }
      let snapDir = member.dataDir + "/member/snap"
      let snaps = {
        ((try? FileManager.default.contentsOfDirectory(atPath: snapDir)) ?? []).filter {
          $0.hasSuffix(".snap")
        }
      }
      #expect(Harness.waitFor(5) { snaps().count == 1 }, "\(snaps())")
      member.crash()
      member.restart()
      #expect(Harness.waitFor(10) { member.isUp })
      #expect(member.get("k99").contains("\"value\":\"v\""))
    }
  }

  @Test("--backend-batch-limit=1 commits each applied group; kill -9 replays nothing twice")
  func backendBatchLimit() throws {
    try Harness.withSingleMember(
      extraArguments: ["--backend-batch-limit=1", "--backend-batch-interval=1h"]
    ) { member, _ in
      for value in 1...3 {
        #expect(EtcdctlV3MemberTests.ctl(member, "put", "k", "\(value)") == "OK\n")
      }
      member.crash()
      member.restart()
      #expect(Harness.waitFor(10) { member.isUp })
      let got = EtcdctlV3MemberTests.ctl(member, "get", "k", "-w", "fields")
      #expect(got.contains("\"Version\" : 3\n") && got.contains("\"Value\" : \"3\"\n"), "\(got)")
      #expect(got.contains("\"ModRevision\" : 4\n"), "\(got)")
    }
  }

  @Test("--cors with origins: only those get the CORS headers, their origin echoed, as on etcd")
  func corsOrigins() throws {
    try Harness.withReferenceAndMember(extraArguments: ["--cors=http://a.com:80"]) {
      reference, member in
      for origin in ["", "http://a.com:80", "http://a.com"] {
        for (method, path) in [("GET", "/version"), ("OPTIONS", "/v2/keys/a"), ("GET", "/nope")] {
          let seen = [reference.clientURL, member.clientURL].map { url in
            Harness.run(
              ["curl", "-s", "-i", "-m", "3", "-X", method]
                + (origin.isEmpty ? [] : ["-H", "Origin: " + origin]) + [url + path], timeout: 5
            ).split(separator: "\r\n").filter { $0.lowercased().hasPrefix("access-control") }
              .sorted()
          }
          #expect(seen[1] == seen[0], "\(method) \(path) from '\(origin)'")
          if origin == "http://a.com:80" {
            #expect(seen[0].contains("Access-Control-Allow-Origin: http://a.com:80"))
          }
        }
      }
    }
  }

  @Test("--host-whitelist and --max-concurrent-streams, as etcd takes them")
  func hostWhitelistAndStreams() throws {
    try Harness.withReferenceAndMember(
      extraArguments: ["--host-whitelist=example.com,127.0.0.1", "--max-concurrent-streams=7"]
    ) { reference, member in
      for host in ["", "example.com", "example.com:80", "EXAMPLE.com", "other.com:2379"] {
        for (method, path) in [
          ("GET", "/version"), ("OPTIONS", "/v2/keys/a"), ("POST", "/v3/kv/range"),
        ] {
          let seen = [reference.clientURL, member.clientURL].map { url in
            Harness.run(
              ["curl", "-s", "-i", "-m", "3", "-X", method, "-d", #"{"key":"YQ=="}"#]
                + (host.isEmpty ? [] : ["-H", "Host: " + host]) + [url + path], timeout: 5
            ).split(separator: "\r\n").filter {
              !$0.hasPrefix("Date:") && !$0.hasPrefix("Content-Length:") && !$0.contains("revision")
            }.map { String($0.prefix(60)) }.sorted()
          }
          #expect(seen[1] == seen[0], "\(method) \(path) for Host '\(host)'")
        }
      }
      let body = Harness.curl("-H", "Host: other.com", member.clientURL + "/version")
      #expect(
        body.hasPrefix("\netcd received your request")
          && body.hasSuffix(
            "\"other.com\"\n\nThis requirement has been added to help prevent \"DNS Rebinding\" attacks (CVE-2018-5702).\n\n"
          ))
      // gRPC is not held to the list; its SETTINGS carry the stream limit.
      #expect(EtcdctlV3MemberTests.ctl(member, "put", "a", "b") == "OK\n")
      for port in [reference.clientPort, member.clientPort] {
        let raw = try #require(RawHTTP2(port: port, initialWindow: 65_535))
        defer { raw.close() }
        let settings = raw.readFrame()
        let fields = stride(from: 0, to: settings?.payload.count ?? 0, by: 6).map { at in
          settings!.payload[at..<at + 6].reduce(0) { $0 << 8 | Int($1) }
        }
        #expect(fields.contains(3 << 32 | 7), "\(port): \(fields)")
      }
    }
  }

  @Test("--experimental-warning-apply-duration: a slower apply is logged as a warning")
  func warningApplyDuration() throws {
    try Harness.withSingleMember(extraArguments: ["--experimental-warning-apply-duration=1ns"]) {
      member, _ in
      #expect(EtcdctlV3MemberTests.ctl(member, "put", "a", "b") == "OK\n")
      #expect(
        Harness.waitFor(5) {
          member.logTail.contains("\"msg\":\"apply request took too long\"")
            && member.logTail.contains("\"expected-duration\":\"1ns\"")
        }, "\(member.logTail)")
    }
  }

  @Test("a taken client or peer port: the member exits naming the address, as etcd does")
  func takenPort() throws {
    try Harness.withSingleMember { member, dir in
      func start(client: Int, peer: Int) -> String {
        let client = "http://127.0.0.1:\(client)"
        return Harness.run(
          [
            Harness.binary, "--data-dir", dir + "/second.etcd", "--listen-client-urls", client,
            "--advertise-client-urls", client, "--listen-peer-urls", "http://127.0.0.1:\(peer)",
          ], timeout: 10, withErrors: true)
      }
      let free = Harness.freePort()
      #expect(
        start(client: free, peer: member.peerPort).contains(
          "listen tcp 127.0.0.1:\(member.peerPort): bind: address already in use"))
      #expect(
        start(client: member.clientPort, peer: free).contains(
          "listen tcp 127.0.0.1:\(member.clientPort): bind: address already in use"))
      #expect(member.isUp)
    }
  }

  @Test("a restarted member publishes itself again, so v2 indexes go on as etcd's")
  func republishAfterRestart() throws {
    try Harness.withReferenceAndMember { reference, member in
      func modifiedIndex(_ port: Int, _ key: String) -> Int? {
        Harness.http("PUT", port: port, "/v2/keys/" + key, form: "value=1")?.json
          .flatMap { $0["node"] as? [String: Any] }?["modifiedIndex"] as? Int
      }
      let before = [reference.clientPort, member.clientPort].map { modifiedIndex($0, "before") }
      #expect(before[0] != nil && before[1] == before[0], "\(before)")
      try reference.crashAndRestart()
      member.crash()
      member.restart()
      try #require(Harness.waitFor(15) { reference.isHealthy && member.isUp })
      let after = [reference.clientPort, member.clientPort].map { modifiedIndex($0, "after") }
      #expect(after[0] != nil && after[1] == after[0], "etcd, swetcd: \(after)")
    }
  }

  @Test("--max-txn-ops bounds a txn's ops, nested ones included")
  func maxTxnOps() throws {
    try Harness.withSingleMember(extraArguments: ["--max-txn-ops=2"]) { member, _ in
      let client = try V3Client(port: member.clientPort)
      defer { client.close() }
      func txn(_ puts: Int) -> Result<Etcdserverpb_TxnResponse, GRPCStatus> {
        var request = Etcdserverpb_TxnRequest()
        for i in 0..<puts {
          var op = Etcdserverpb_RequestOp()
          op.requestPut.key = Data("k\(i)".utf8)
          request.success.append(op)
        }
        return client.call("/etcdserverpb.KV/Txn", request)
      }
      #expect(throws: Never.self) { try txn(2).get() }
      #expect(
        throws: GRPCStatus(.invalidArgument, "etcdserver: too many operations in txn request")
      ) {
        try txn(3).get()
      }
    }
  }

  @Test("bad input gets etcd's errors and the member keeps serving")
  func badInput() throws {
    try Harness.withSingleMember { member, dir in
      let ttl = Harness.curl("-XPUT", member.clientURL + "/v2/keys/a?ttl=abc", "-d", "value=1")
      #expect(ttl.contains("\"errorCode\":202"))
      let index = Harness.curl(member.clientURL + "/v2/keys/a?wait=true&waitIndex=x")
      #expect(index.contains("\"errorCode\":203"))
      let method = Harness.curl(
        "-o", "/dev/null", "-w", "%{http_code}", "-XPATCH",
        member.clientURL + "/v2/keys/a")
      #expect(method == "405")
      let garbage = Harness.run(
        [
          "bash", "-c",
          "printf 'GARBAGE\\r\\n\\r\\n' | timeout 3 nc -q 1 127.0.0.1 \(member.clientPort) || true",
        ])
      #expect(garbage.isEmpty || garbage.contains("400"))
      let big = String(repeating: "x", count: 2_000_000)
      let bigPath = dir + "/big"
      let file = fopen(bigPath, "w")
      fputs("value=\(big)", file)
      fclose(file)
      let tooLarge = Harness.curl(
        "-o", "/dev/null", "-w", "%{http_code}", "-XPUT", member.clientURL + "/v2/keys/big",
        "--data-binary", "@" + bigPath)
      #expect(tooLarge == "413")
      #expect(member.get("a").contains("\"errorCode\":100"), "nothing was written")
      #expect(member.isUp)
    }
  }

  @Test("three members: the leader is killed, writes resume within 3 s, it rejoins and catches up")
  func threeMemberFailover() throws {
    try Harness.withCluster(names: ["m1", "m2", "m3"]) { members, _ in
      #expect(members[1].put("before", "1").contains("\"action\""))
      guard let leader = members.first(where: \.isLeader) else {
        Issue.record("no leader")
        return
      }
      leader.crash()
      let survivors = members.filter { $0 !== leader }
      let start = Date()
      let resumed = Harness.waitFor(3) { survivors[0].put("after", "2").contains("\"action\"") }
      #expect(resumed, "writes resumed after \(Date().timeIntervalSince(start)) s")
      leader.restart()
      #expect(Harness.waitFor(10) { leader.get("after").contains("\"value\":\"2\"") })
      // Every member holds the same nodes at the same indexes.
      let answers = members.map { $0.get("after") }
      #expect(Set(answers).count == 1, "\(answers)")
      #expect(Set(members.map { $0.get("before") }).count == 1)
    }
  }
}
