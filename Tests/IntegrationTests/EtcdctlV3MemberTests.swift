import Foundation
import Testing

/// etcdctl 3.4's `member` commands with the v3 API: the outputs and errors
/// are what it prints against etcd 3.4.23 for the same steps, with the
/// member and cluster IDs, which depend on the time, substituted.
@Suite("etcdctl v3 member commands against swetcd", .serialized)
struct EtcdctlV3MemberTests {
  /// etcdctl's output without clientv3's JSON warning lines.
  static func ctl(_ member: Member, _ arguments: String...) -> String {
    ctl(member, arguments)
  }

  static func ctl(_ member: Member, _ arguments: [String]) -> String {
    let output = Harness.run(
      ["ETCDCTL_API=3", "etcdctl", "--endpoints", member.clientURL, "--command-timeout=5s"]
        + arguments, timeout: 8, withErrors: true)
    return output.split(separator: "\n", omittingEmptySubsequences: false)
      .filter { !$0.hasPrefix("{\"level\"") }.joined(separator: "\n")
  }

  /// etcdctl prints IDs in its change messages with %16x: a short one is
  /// padded with spaces.
  static func padded(_ id: String) -> String {
    String(repeating: " ", count: max(0, 16 - id.count)) + id
  }

  /// What `member add` prints: the new member, then the environment for
  /// starting it, its peer listed among the others in member ID order.
  static func added(
    _ id: String, cluster: String, name: String, peerURL: String, others: [(String, String)]
  ) -> String {
    let initial = (others + [(id, name + "=" + peerURL)]).sorted { hex($0.0) < hex($1.0) }.map(\.1)
    return """
      Member \(padded(id)) added to cluster \(padded(cluster))

      ETCD_NAME="\(name)"
      ETCD_INITIAL_CLUSTER="\(initial.joined(separator: ","))"
      ETCD_INITIAL_ADVERTISE_PEER_URLS="\(peerURL)"
      ETCD_INITIAL_CLUSTER_STATE="existing"

      """
  }

  /// IDs sort as numbers, as etcd lists members: "f…" (15 digits) before "1…" (16).
  static func hex(_ id: some StringProtocol) -> UInt64 { UInt64(id, radix: 16) ?? 0 }

  /// `member list` lines in etcd's order, by member ID.
  static func listed(_ lines: [String]) -> String {
    lines.sorted { hex($0.prefix { $0 != "," }) < hex($1.prefix { $0 != "," }) }
      .joined(separator: "\n") + "\n"
  }

  /// The ID `member add` reports, and the cluster's, unpadded.
  static func ids(_ output: String) -> (member: String, cluster: String) {
    let words = output.split(separator: " ")
    guard words.count > 5, words[0] == "Member" else { return ("", "") }
    return (String(words[1]), String(words[5].prefix { $0 != "\n" }))
  }

  @Test("add, list, promote, remove, update and their errors with one started member")
  func outputsAndErrors() throws {
    try Harness.withSingleMember { member, _ in
      let first = Self.ctl(member, "member", "list").split(separator: ",")[0]
      let firstID = String(first)
      let firstEntry = (firstID, "default=" + member.peerURL)
      let learnerURL = "http://127.0.0.1:1235"

      let learner = Self.ctl(member, "member", "add", "c", "--learner", "--peer-urls=" + learnerURL)
      let (c, cluster) = Self.ids(learner)
      #expect(
        learner
          == Self.added(c, cluster: cluster, name: "c", peerURL: learnerURL, others: [firstEntry]))
      let lines = [
        "\(firstID), started, default, \(member.peerURL), \(member.clientURL), false",
        "\(c), unstarted, , \(learnerURL), , true",
      ]
      #expect(Self.ctl(member, "member", "list") == Self.listed(lines))
      #expect(
        Self.ctl(member, "member", "add", "d", "--learner", "--peer-urls=http://127.0.0.1:1236")
          == "Error: etcdserver: too many learner members in cluster\n")
      #expect(
        Self.ctl(member, "member", "promote", c)
          == "Error: etcdserver: can only promote a learner member which is in sync with leader\n")
      #expect(
        Self.ctl(member, "member", "promote", firstID)
          == "Error: etcdserver: can only promote a learner member\n")
      #expect(
        Self.ctl(member, "member", "add", "d", "--peer-urls=" + member.peerURL)
          == "Error: etcdserver: Peer URLs already exists\n")
      #expect(
        Self.ctl(member, "member", "remove", c)
          == "Member \(Self.padded(c)) removed from cluster \(Self.padded(cluster))\n")
      // A removed ID and one never known are both "not found".
      for id in [c, "1234"] {
        #expect(
          Self.ctl(member, "member", "remove", id) == "Error: etcdserver: member not found\n")
        #expect(
          Self.ctl(member, "member", "update", id, "--peer-urls=http://127.0.0.1:1240")
            == "Error: etcdserver: member not found\n")
        #expect(
          Self.ctl(member, "member", "promote", id) == "Error: etcdserver: member not found\n")
      }

      let voterURL = "http://127.0.0.1:1234"
      let voter = Self.ctl(member, "member", "add", "b", "--peer-urls=" + voterURL)
      let b = Self.ids(voter).member
      #expect(
        voter
          == Self.added(b, cluster: cluster, name: "b", peerURL: voterURL, others: [firstEntry]))
      let withVoter = [lines[0], "\(b), unstarted, , \(voterURL), , false"]
      #expect(
        Self.ctl(member, "member", "list") == Self.listed(withVoter))
      // etcd's strict check: a voter that never started was never connected.
      #expect(
        Self.ctl(member, "member", "add", "c", "--learner", "--peer-urls=" + learnerURL)
          == "Error: etcdserver: unhealthy cluster\n")
    }
  }

  @Test("a learner added by etcdctl joins with -initial-cluster-state existing and is promoted")
  func learnerJoinsAndIsPromoted() throws {
    try Harness.withSingleMember { first, dir in
      let joiner = Member(name: "j", dataDir: dir + "/j.etcd")
      defer { joiner.crash() }
      let added = Self.ctl(
        first, "member", "add", "j", "--learner", "--peer-urls=" + joiner.peerURL)
      let (id, cluster) = Self.ids(added)
      #expect(
        added.hasPrefix("Member \(Self.padded(id)) added to cluster \(Self.padded(cluster))\n"),
        "\(added)")
      joiner.start(
        initialCluster: "default=\(first.peerURL),j=\(joiner.peerURL)", state: "existing")
      let started = "\(id), started, j, \(joiner.peerURL), \(joiner.clientURL), true"
      try #require(
        Harness.waitFor(15) { Self.ctl(first, "member", "list").contains(started) },
        "the learner did not start: \(Self.ctl(first, "member", "list"))")
      #expect(Self.ctl(first, "put", "k", "v") == "OK\n")
      // As etcd 3.4's, a learner serves only Status and serializable reads.
      #expect(
        Self.ctl(joiner, "put", "k", "x") == "Error: etcdserver: rpc not supported for learner\n")
      #expect(
        Harness.waitFor(5) {
          Self.ctl(joiner, "get", "k", "--consistency=s", "--print-value-only") == "v\n"
        })
      #expect(Self.ctl(joiner, "endpoint", "status").contains(", false, true, "))
      var promoted = ""
      // The learner is promoted once its log has caught up.
      #expect(
        Harness.waitFor(10) {
          promoted = Self.ctl(first, "member", "promote", id)
          return promoted
            == "Member \(Self.padded(id)) promoted in cluster \(Self.padded(cluster))\n"
        }, "\(promoted)")
      #expect(
        Self.ctl(first, "member", "list").contains(
          "\(id), started, j, \(joiner.peerURL), \(joiner.clientURL), false"))
      #expect(Self.ctl(joiner, "put", "k", "w") == "OK\n")
      #expect(Self.ctl(first, "get", "k", "--print-value-only") == "w\n")
    }
  }
}

@Suite("etcdctl v3 membership changes of a live three-member cluster", .serialized)
struct GrowAndShrinkTests {
  @Test("grow 3 → 5 with member add, write through the new members, shrink back; removed ones stop")
  func growToFiveAndBack() throws {
    try Harness.withCluster(names: ["a", "b", "c"]) { members, dir in
      let joiners = [
        Member(name: "d", dataDir: dir + "/d.etcd"), Member(name: "e", dataDir: dir + "/e.etcd"),
      ]
      defer { for joiner in joiners { joiner.crash() } }
      var all = members
      func ctl(_ arguments: String...) -> String {
        Harness.run(
          [
            "ETCDCTL_API=3", "etcdctl", "--command-timeout=5s", "--endpoints",
            members.map(\.clientURL).joined(separator: ","),
          ] + arguments, timeout: 10, withErrors: true
        ).split(separator: "\n", omittingEmptySubsequences: false)
          .filter { !$0.hasPrefix("{\"level\"") }.joined(separator: "\n")
      }
      func serializable(_ member: Member, _ key: String) -> String {
        EtcdctlV3MemberTests.ctl(
          member, "get", key, "--consistency=s", "--print-value-only")
      }
      var ids: [String] = []
      for joiner in joiners {
        // etcd refuses an add until every voter has been connected for 5 s.
        let added = Harness.retry(
          12, { ctl("member", "add", joiner.name, "--peer-urls=" + joiner.peerURL) },
          until: { $0.hasPrefix("Member ") })
        let (id, _) = EtcdctlV3MemberTests.ids(added)
        // The joiner starts with exactly the environment member add printed.
        let initial = added.split(separator: "\n").first { $0.hasPrefix("ETCD_INITIAL_CLUSTER=") }
          .map { $0.dropFirst("ETCD_INITIAL_CLUSTER=\"".count).dropLast() }.map(String.init)
        try #require(initial != nil, "\(added)")
        joiner.start(initialCluster: initial!, state: "existing")
        let started =
          "\(id), started, \(joiner.name), \(joiner.peerURL), \(joiner.clientURL), false"
        try #require(
          Harness.waitFor(20) { ctl("member", "list").contains(started) },
          "\(joiner.name) did not start: \(ctl("member", "list"))")
        ids.append(id)
        all.append(joiner)
      }
      #expect(ctl("member", "list").split(separator: "\n").count == 5)
      #expect(EtcdctlV3MemberTests.ctl(joiners[1], "put", "grown", "5") == "OK\n")
      #expect(Harness.waitFor(10) { all.allSatisfy { serializable($0, "grown") == "5\n" } })
      // Quorum is 3 of 5 now: two members down still leaves a cluster.
      members[2].crash()
      joiners[0].crash()
      // A put made before the members notice a lost leader goes to it and
      // times out, as on etcd: retry until the new leader takes it.
      #expect(
        Harness.waitFor(15) {
          EtcdctlV3MemberTests.ctl(members[0], "put", "two-down", "ok") == "OK\n"
        })
      members[2].restart()
      joiners[0].restart()
      #expect(Harness.waitFor(15) { all.allSatisfy { serializable($0, "two-down") == "ok\n" } })

      for (joiner, id) in zip(joiners, ids) {
        // Two members restarted a moment ago: a removal that needs them for
        // an active quorum waits until they have been connected for 5 s.
        let removed = Harness.retry(
          12, { ctl("member", "remove", id) }, until: { !$0.contains("unhealthy cluster") })
        #expect(removed.hasPrefix("Member \(EtcdctlV3MemberTests.padded(id)) removed from cluster"))
        #expect(joiner.waitForExit(15) == 0, "a removed member stops with status 0")
      }
      #expect(ctl("member", "list").split(separator: "\n").count == 3)
      // The removed members may have led: the first put may go to them.
      #expect(Harness.waitFor(15) { ctl("put", "shrunk", "3") == "OK\n" })
      #expect(Harness.waitFor(10) { members.allSatisfy { serializable($0, "shrunk") == "3\n" } })
      let hashes = Set(
        members.map {
          EtcdctlV3MemberTests.ctl($0, "endpoint", "hashkv").split(separator: " ").last
        })
      #expect(hashes.count == 1, "\(hashes)")
    }
  }

  @Test(
    "with a member down: adding, or removing a live voter, is refused; removing the down one is not"
  )
  func strictReconfigurationCheck() throws {
    try Harness.withCluster(names: ["a", "b", "c"]) { members, _ in
      func ctl(_ arguments: String...) -> String {
        EtcdctlV3MemberTests.ctl(members[0], arguments)
      }
      func id(_ name: String) -> String {
        ctl("member", "list").split(separator: "\n").first { $0.contains(", \(name), ") }
          .map { String($0.prefix { $0 != "," }) } ?? "?"
      }
      // Connected for 5 s, every voter counts as active: a learner may join.
      let learner = Harness.retry(
        12, { ctl("member", "add", "l", "--learner", "--peer-urls=http://127.0.0.1:1299") },
        until: { $0.hasPrefix("Member ") })
      #expect(learner.hasPrefix("Member "), "\(learner)")
      #expect(
        ctl("member", "remove", EtcdctlV3MemberTests.ids(learner).member).hasPrefix("Member "))
      members[2].crash()
      #expect(
        ctl("member", "add", "x", "--peer-urls=http://127.0.0.1:1298")
          == "Error: etcdserver: unhealthy cluster\n")
      #expect(ctl("member", "remove", id("b")) == "Error: etcdserver: unhealthy cluster\n")
      // c may have led: retry while the others elect a new leader. A
      // change sent to the dead leader ends at the deadline, as on etcd,
      // with "context deadline exceeded" or "request timed out".
      let cID = id("c")
      let removed = Harness.retry(
        12, { ctl("member", "remove", cID) },
        until: { !$0.contains("deadline exceeded") && !$0.contains("timed out") })
      #expect(removed.hasPrefix("Member "), "a down member may go: \(removed)")
      #expect(ctl("member", "list").split(separator: "\n").count == 2)
    }
  }
}

@Suite("etcdctl v3 move-leader against three members", .serialized)
struct MoveLeaderTests {
  @Test("move-leader hands leadership to the member asked for")
  func moveLeader() throws {
    try Harness.withCluster(names: ["a", "b", "c"]) { members, _ in
      #expect(Harness.waitFor(10) { members.contains { $0.isLeader } })
      guard let leader = members.first(where: { $0.isLeader }),
        let target = members.first(where: { !$0.isLeader })
      else { return }
      func ctl(_ endpoints: [Member], _ arguments: String...) -> String {
        Harness.run(
          [
            "ETCDCTL_API=3", "etcdctl", "--endpoints",
            endpoints.map(\.clientURL).joined(separator: ","),
          ]
            + arguments, timeout: 10, withErrors: true
        ).split(separator: "\n").filter { !$0.hasPrefix("{\"level\"") }.joined(separator: "\n")
      }
      func id(_ member: Member) -> String {
        ctl([member], "endpoint", "status").split(separator: ",").dropFirst().first
          .map { $0.trimmingCharacters(in: .whitespaces) } ?? "?"
      }
      let leaderID = id(leader)
      let targetID = id(target)
      #expect(
        ctl(members, "move-leader", targetID)
          == "Leadership transferred from \(leaderID) to \(targetID)")
      #expect(Harness.waitFor(5) { target.isLeader })
      // etcdctl itself looks for the leader among the endpoints given.
      #expect(
        ctl([leader], "move-leader", leaderID)
          == "Error: no leader endpoint given at [\(leader.clientURL)]")
      // etcd's answer carries no header, so etcdctl prints an empty object.
      #expect(ctl(members, "move-leader", leaderID, "-w", "json") == "{}")
      #expect(Harness.waitFor(5) { leader.isLeader })
    }
  }
}
