import Foundation
import Testing

/// What a follower forwards to the leader over the peer port: lease
/// keepalives, lease TimeToLive and learner promotions.
///
/// The expected outputs are those etcd 3.4.23 printed in a 3-member cluster
/// for the same commands, sent to a follower and to the leader alike
/// (observed by hand: Harness runs only single-member reference etcds).
@Suite("follower forwards leases and promotions to the leader", .serialized)
struct LeaderForwardTests {
  static func ctl(_ member: Member, _ arguments: String...) -> String {
    EtcdctlV3MemberTests.ctl(member, arguments)
  }

  /// The leader and a follower, once the cluster agrees on a leader.
  static func roles(_ members: [Member]) throws -> (leader: Member, follower: Member) {
    var leader: Member?
    _ = Harness.waitFor(10) {
      leader = members.first(where: \.isLeader)
      return leader != nil
    }
    let found = try #require(leader, "no leader within 10 s")
    return (found, try #require(members.first { $0 !== found }))
  }

  @Test("etcdctl lease grant, keep-alive --once, timetolive --keys, revoke: same on a follower")
  func etcdctlLeases() throws {
    try Harness.withCluster(names: ["a", "b", "c"]) { members, _ in
      let (leader, follower) = try Self.roles(members)
      for member in [leader, follower] {
        let granted = Self.ctl(member, "lease", "grant", "60")
        let id = granted.split(separator: " ").dropFirst().first.map(String.init) ?? "?"
        #expect(granted == "lease \(id) granted with TTL(60s)\n")
        #expect(Self.ctl(member, "put", "k1", "v", "--lease=\(id)") == "OK\n")
        #expect(Self.ctl(member, "put", "k2", "v", "--lease=\(id)") == "OK\n")
        #expect(
          Self.ctl(member, "lease", "keep-alive", "--once", id)
            == "lease \(id) keepalived with TTL(60)\n")
        // A slow machine may take a second over the keep-alive and these
        // two calls, so 58 s is as right as 59 s.
        func timeToLive(_ arguments: String...) -> String {
          EtcdctlV3MemberTests.ctl(member, ["lease", "timetolive", id] + arguments)
            .replacingOccurrences(of: "remaining(58s)", with: "remaining(59s)")
        }
        #expect(timeToLive() == "lease \(id) granted with TTL(60s), remaining(59s)\n")
        #expect(
          timeToLive("--keys")
            == "lease \(id) granted with TTL(60s), remaining(59s), attached keys([k1 k2])\n")
        #expect(
          Self.ctl(member, "lease", "timetolive", "1234")
            == "lease 0000000000001234 already expired\n")
        #expect(
          Self.ctl(member, "lease", "keep-alive", "--once", "1234")
            == "Error: etcdserver: requested lease not found\n")
        #expect(Self.ctl(member, "lease", "revoke", id) == "lease \(id) revoked\n")
        #expect(Self.ctl(member, "lease", "timetolive", id) == "lease \(id) already expired\n")
        #expect(
          Self.ctl(member, "lease", "keep-alive", "--once", id)
            == "Error: etcdserver: requested lease not found\n")
        #expect(
          Self.ctl(member, "lease", "revoke", id)
            == "Error: failed to revoke lease (etcdserver: requested lease not found)\n")
        let missing = Self.ctl(member, "lease", "timetolive", "1234", "--keys", "-w", "json")
        #expect(missing.hasSuffix(#""id":4660,"ttl":-1,"granted-ttl":0,"keys":null}"# + "\n"))
      }
    }
  }

  @Test("a lease kept alive through a follower outlives its TTL; one left alone expires")
  func keepAliveThroughFollower() throws {
    try Harness.withCluster(names: ["a", "b", "c"]) { members, _ in
      let (leader, follower) = try Self.roles(members)
      func grant() -> String {
        Self.ctl(leader, "lease", "grant", "3").split(separator: " ").dropFirst().first
          .map(String.init) ?? "?"
      }
      let kept = grant()
      let left = grant()
      let start = Date()
      // Twice the TTL, renewing every second through the follower.
      while Date().timeIntervalSince(start) < 6 {
        #expect(
          Self.ctl(follower, "lease", "keep-alive", "--once", kept)
            == "lease \(kept) keepalived with TTL(3)\n")
        usleep(1_000_000)
      }
      #expect(Self.ctl(follower, "lease", "timetolive", left) == "lease \(left) already expired\n")
      let remaining = Self.ctl(follower, "lease", "timetolive", kept)
      #expect(remaining.hasPrefix("lease \(kept) granted with TTL(3s), remaining("), "\(remaining)")
    }
  }

  @Test("a keepalive on a follower that has no leader: etcd's \"no leader\" after 7 s")
  func keepAliveWithoutLeader() throws {
    try Harness.withCluster(names: ["a", "b", "c"]) { members, _ in
      let (leader, follower) = try Self.roles(members)
      let granted = Self.ctl(leader, "lease", "grant", "60")
      let id = granted.split(separator: " ").dropFirst().first.map(String.init) ?? "?"
      for member in members where member !== follower { member.crash() }
      let started = Date()
      let output = Harness.run(
        [
          "ETCDCTL_API=3", "etcdctl", "--endpoints", follower.clientURL, "lease", "keep-alive",
          "--once", id,
        ],
        timeout: 15, withErrors: true)
      #expect(output == "Error: etcdserver: no leader\n", "\(output)")
      // etcd waits its request timeout (5 s + 2 election timeouts) for a leader.
      #expect(Date().timeIntervalSince(started) > 5)
    }
  }

  @Test("promoting a learner that is not in sync, sent to a follower: etcd's refusal")
  func promoteThroughFollower() throws {
    try Harness.withCluster(names: ["a", "b", "c"]) { members, _ in
      let (_, follower) = try Self.roles(members)
      // The learner is never started, so its log stays empty.
      let added = Harness.retry(
        8,
        {
          Self.ctl(follower, "member", "add", "d", "--learner", "--peer-urls=http://127.0.0.1:1237")
        },
        until: { $0.hasPrefix("Member ") })
      let id = try #require(added.split(separator: " ").dropFirst().first.map(String.init))
      #expect(
        Self.ctl(follower, "member", "promote", id)
          == "Error: etcdserver: can only promote a learner member which is in sync with leader\n")
      #expect(
        Self.ctl(follower, "member", "promote", "1234") == "Error: etcdserver: member not found\n")
    }
  }

  @Test("etcd3 (Python) lease.refresh() through a follower")
  func pythonRefresh() throws {
    let python = try Harness.python()
    let script = """
      import sys, etcd3
      c = etcd3.client(host="127.0.0.1", port=int(sys.argv[1]))
      lease = c.lease(30)
      c.put("k", "v", lease=lease)
      print([r.TTL for r in lease.refresh()], lease.granted_ttl, lease.remaining_ttl, lease.keys)
      lease.revoke()
      print([r.TTL for r in lease.refresh()], lease.remaining_ttl)
      """
    try Harness.withCluster(names: ["a", "b", "c"]) { members, _ in
      let (_, follower) = try Self.roles(members)
      let output = Harness.run(
        [python, "-c", script, "\(follower.clientPort)"], timeout: 30, withErrors: true)
      #expect(output == "[30] 30 29 [b'k']\n[0] -1\n", "\(output)")
    }
  }
}
