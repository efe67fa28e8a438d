import Foundation
import Testing

/// Runtime reconfiguration through /v2/members: a single member grows to
/// three (joiners start with --initial-cluster-state existing), then
/// shrinks back, with etcd 3.4's answers to bad requests along the way.
@Suite("v2 members: add, join, update, remove", .serialized)
struct MembershipTests {
  /// curl with the status code appended on its own last line.
  func call(_ arguments: String...) -> (status: Int, body: String) {
    let output = Harness.run(
      ["curl", "-s", "-m", "8", "-w", "\n%{http_code}"] + arguments, timeout: 10)
    var lines = output.split(separator: "\n", omittingEmptySubsequences: false)
    let status = Int(lines.popLast() ?? "") ?? 0
    return (status, lines.joined(separator: "\n").trimmingCharacters(in: .newlines))
  }

  func postMember(_ base: Member, _ body: String, contentType: String = "application/json")
    -> (status: Int, body: String)
  {
    call("-XPOST", base.clientURL + "/v2/members", "-H", "Content-Type: " + contentType, "-d", body)
  }

  func memberID(_ json: String) -> String {
    let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
    return object?["id"] as? String ?? ""
  }

  @Test("grow 1 → 3 by POST and etcdctl member add, update, restart a joiner, remove")
  func growAndShrink() throws {
    try Harness.withSingleMember { first, dir in
      let b = Member(name: "b", dataDir: dir + "/b.etcd")
      let c = Member(name: "c", dataDir: dir + "/c.etcd")
      defer {
        b.crash()
        c.crash()
      }
      _ = first.put("before", "1")

      // Bad requests, answered as etcd answers them, change nothing.
      #expect(
        postMember(first, "{\"peerURLs\":[\"\(b.peerURL)\"]}", contentType: "text/plain")
          == (415, "{\"message\":\"Bad Content-Type text/plain, accept application/json\"}"))
      #expect(
        postMember(first, "{\"peer") == (400, "{\"message\":\"unexpected end of JSON input\"}"))
      #expect(postMember(first, "{}") == (400, "{\"message\":\"no valid URLs given\"}"))
      #expect(
        postMember(first, "{\"peerURLs\":[\"foo\"]}")
          == (400, "{\"message\":\"URL scheme must be http, https, unix, or unixs: foo\"}"))
      #expect(
        postMember(first, "{\"peerURLs\":[\"\(first.peerURL)\"]}")
          == (409, "{\"message\":\"membership: peerURL exists\"}"))
      #expect(
        call("-XDELETE", first.clientURL + "/v2/members/zzz")
          == (404, "{\"message\":\"No such member: zzz\"}"))
      #expect(call("-XPATCH", first.clientURL + "/v2/members").status == 405)
      let listed = call(first.clientURL + "/v2/members").body
      #expect(listed.components(separatedBy: "\"id\"").count == 2, "still one member")

      // Add b over HTTP and let it join.
      let added = postMember(first, "{\"peerURLs\":[\"\(b.peerURL)\"]}")
      #expect(added.status == 201)
      let bID = memberID(added.body)
      #expect(
        added.body
          == "{\"id\":\"\(bID)\",\"name\":\"\",\"peerURLs\":[\"\(b.peerURL)\"],\"clientURLs\":[]}")
      b.start(
        initialCluster: "default=\(first.peerURL),b=\(b.peerURL)", state: "existing")
      #expect(Harness.waitFor(15) { b.isUp })
      #expect(b.get("before").contains("\"value\":\"1\""))

      // b joined a moment ago: like etcd, the member refuses another add
      // until every voter has been connected for 5 s, lest the new member
      // cost the quorum ("unhealthy cluster", a 500 in v2).
      #expect(
        postMember(first, "{\"peerURLs\":[\"\(c.peerURL)\"]}")
          == (500, "{\"message\":\"Internal Server Error\"}"))
      // Then add c with etcdctl, as an operator would.
      let ctlOutput = Harness.retry(
        12,
        {
          Harness.run(
            [
              "ETCDCTL_API=2", "etcdctl", "--endpoints", first.clientURL, "member", "add", "c",
              c.peerURL,
            ], withErrors: true)
        }, until: { $0.contains("Added member named c") })
      #expect(ctlOutput.contains("Added member named c with ID"))
      #expect(ctlOutput.contains("ETCD_INITIAL_CLUSTER_STATE=\"existing\""))
      c.start(
        initialCluster: "default=\(first.peerURL),b=\(b.peerURL),c=\(c.peerURL)", state: "existing")
      #expect(Harness.waitFor(15) { c.isUp })
      #expect(c.put("from-c", "3").contains("\"value\":\"3\""))
      for member in [first, b, c] {
        #expect(Harness.waitFor(5) { member.get("from-c").contains("\"value\":\"3\"") })
      }
      let members = call(c.clientURL + "/v2/members").body
      #expect(members.contains("\"name\":\"c\"") && members.contains("\"name\":\"b\""))
      let cID =
        (try? JSONSerialization.jsonObject(with: Data(members.utf8)) as? [String: Any])
        .flatMap { $0["members"] as? [[String: Any]] }?
        .first { $0["name"] as? String == "c" }?["id"] as? String ?? ""

      // Update: another member's URL is refused; its own is accepted.
      #expect(
        call(
          "-XPUT", first.clientURL + "/v2/members/" + cID, "-H", "Content-Type: application/json",
          "-d", "{\"peerURLs\":[\"\(b.peerURL)\"]}")
          == (409, "{\"message\":\"membership: peerURL exists\"}"))
      #expect(
        call(
          "-XPUT", first.clientURL + "/v2/members/" + cID, "-H", "Content-Type: application/json",
          "-d", "{\"peerURLs\":[\"\(c.peerURL)\"]}"
        ).status == 204)

      // A joined member restarts from its own data dir.
      c.crash()
      _ = first.put("while-c-down", "4")
      c.restart()
      #expect(Harness.waitFor(15) { c.get("while-c-down").contains("\"value\":\"4\"") })

      // The leader reports its followers.
      let leader = [first, b, c].first { $0.isLeader }
      let stats = leader.map { call($0.clientURL + "/v2/stats/leader").body } ?? ""
      #expect(stats.contains("\"counts\":{\"fail\":"), "\(stats)")

      // Remove b: it stops by itself; its ID is never accepted again. c
      // restarted a moment ago, so b is needed for an active quorum until c
      // has been connected for 5 s: refused until then, as on etcd.
      #expect(call("-XDELETE", first.clientURL + "/v2/members/" + bID).status == 500)
      #expect(
        Harness.waitFor(12) {
          call("-XDELETE", first.clientURL + "/v2/members/" + bID).status == 204
        })
      #expect(b.waitForExit(10) == 0, "a removed member exits with status 0")
      #expect(
        call("-XDELETE", first.clientURL + "/v2/members/" + bID)
          == (410, "{\"message\":\"Member permanently removed: \(bID)\"}"))
      // etcd's update handler names only "not found" and "peer URL exists".
      #expect(
        call(
          "-XPUT", first.clientURL + "/v2/members/" + bID, "-H", "Content-Type: application/json",
          "-d", "{\"peerURLs\":[\"http://127.0.0.1:1\"]}")
          == (500, "{\"message\":\"Internal Server Error\"}"))
      #expect(first.put("after", "5").contains("\"value\":\"5\""))
      #expect(Harness.waitFor(5) { c.get("after").contains("\"value\":\"5\"") })
      // Both survivors agree on the v2 index.
      let indexes = [first, c].map {
        Harness.http("GET", port: $0.clientPort, "/v2/keys/after?quorum=true")?
          .headers["x-etcd-index"]
      }
      #expect(indexes[0] != nil && indexes[0] == indexes[1])
    }
  }

  @Test("a joiner behind a compacted log catches up from a snapshot, v3 backend included")
  func joinFromSnapshot() throws {
    try withScratch { dir in
      let first = Member(name: "default", dataDir: dir + "/default.etcd")
      let joiner = Member(name: "j", dataDir: dir + "/j.etcd")
      defer {
        first.crash()
        joiner.crash()
      }
      first.start(
        initialCluster: "default=\(first.peerURL)",
        extraArguments: ["-snapshot-count", "20", "-experimental-snapshot-catchup-entries", "5"])
      #expect(Harness.waitFor(15) { first.isUp })
      func ctl(_ member: Member, _ arguments: String...) -> String {
        Harness.run(
          ["ETCDCTL_API=3", "etcdctl", "--endpoints", member.clientURL, "--command-timeout=5s"]
            + arguments, timeout: 8, withErrors: true)
      }
      for i in 0..<60 { _ = first.put("k\(i)", "v\(i)") }
      // v3 state that only the snapshot's backend can carry: the log that
      // wrote it is compacted away before the joiner starts.
      for i in 0..<30 { _ = ctl(first, "put", "v3/\(i)", "value \(i)") }
      let lease =
        ctl(first, "lease", "grant", "600").split(separator: " ").dropFirst().first
        .map(String.init) ?? "?"
      #expect(ctl(first, "put", "v3/leased", "x", "--lease=\(lease)") == "OK\n")
      #expect(ctl(first, "compact", "10") == "compacted revision 10\n")
      for i in 60..<90 { _ = first.put("k\(i)", "v\(i)") }
      let added = postMember(first, "{\"peerURLs\":[\"\(joiner.peerURL)\"]}")
      #expect(added.status == 201)
      joiner.start(
        initialCluster: "default=\(first.peerURL),j=\(joiner.peerURL)", state: "existing")
      #expect(Harness.waitFor(15) { joiner.isUp })
      #expect(joiner.get("k0").contains("\"value\":\"v0\""))
      #expect(joiner.get("k59").contains("\"value\":\"v59\""))
      let members = call(joiner.clientURL + "/v2/members").body
      #expect(members.contains("\"name\":\"default\"") && members.contains("\"name\":\"j\""))
      func snapshots(_ member: Member) -> [String] {
        let files = try? FileManager.default.contentsOfDirectory(
          atPath: member.dataDir + "/member/snap")
        return (files ?? []).filter { $0.hasSuffix(".snap") }
      }
      #expect(!snapshots(first).isEmpty, "the leader compacted its log")
      #expect(!snapshots(joiner).isEmpty, "the joiner was sent a snapshot")

      func v3State(_ member: Member) -> [String] {
        [
          ctl(member, "get", "v3/", "--prefix", "--consistency=s", "-w", "json")
            .replacingOccurrences(
              of: #""member_id":[0-9]+"#, with: "", options: .regularExpression),
          ctl(member, "endpoint", "hashkv").split(separator: " ").last.map(String.init) ?? "",
          // The remaining TTL counts down while the joiner catches up, so
          // only its presence is compared, not its seconds.
          ctl(member, "lease", "timetolive", lease, "--keys").replacingOccurrences(
            of: #"remaining\([0-9]+s\)"#, with: "remaining(?)", options: .regularExpression),
        ]
      }
      let expected = v3State(first)
      #expect(expected[0].contains("\"count\":31"), "\(expected[0])")
      #expect(
        expected[2].hasSuffix("remaining(?), attached keys([v3/leased])\n"), "\(expected[2])")
      #expect(Harness.waitFor(10) { v3State(joiner) == expected }, "\(v3State(joiner))")
      #expect(
        ctl(joiner, "get", "v3/1", "--rev=9").contains("required revision has been compacted"))
      // The installed backend is durable: after kill -9 the joiner neither
      // loses it nor applies the entries it covers again.
      joiner.crash()
      joiner.restart()
      #expect(Harness.waitFor(15) { joiner.isUp }, "\(joiner.logTail)")
      #expect(ctl(first, "put", "v3/after", "y") == "OK\n")
      #expect(
        Harness.waitFor(10) {
          ctl(joiner, "get", "v3/after", "--consistency=s", "--print-value-only") == "y\n"
        })
      #expect(v3State(joiner)[1] == v3State(first)[1], "equal hashes after the restart")
    }
  }

  @Test("a member joining a cluster that did not add it is refused")
  func joinWithoutAdd() throws {
    try Harness.withSingleMember { first, dir in
      let stranger = Member(name: "x", dataDir: dir + "/x.etcd")
      stranger.start(
        initialCluster: "default=\(first.peerURL),x=\(stranger.peerURL)", state: "existing")
      defer { stranger.crash() }
      let status = stranger.waitForExit(10)
      #expect(status != nil && status != 0)
      let log = (try? String(contentsOfFile: dir + "/x.etcd.log", encoding: .utf8)) ?? ""
      #expect(log.contains("member count is unequal"), "\(log)")
    }
  }
}
