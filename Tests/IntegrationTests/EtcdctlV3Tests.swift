import Foundation
import Testing

/// etcdctl 3.4 (Debian etcd-client) with the v3 API against a real member:
/// the outputs are what it prints against etcd 3.4.23 for the same steps.
@Suite("etcdctl v3 against swetcd", .serialized)
struct EtcdctlV3Tests {
  @Test(
    "put, get (prefix, keys-only, sort, rev, consistency), del, txn, compact; kill -9 keeps it all")
  func keyValue() throws {
    try Harness.withSingleMember { member, _ in
      func ctl(_ arguments: String...) -> String {
        Harness.run(
          ["ETCDCTL_API=3", "etcdctl", "--endpoints", member.clientURL, "--command-timeout=5s"]
            + arguments, timeout: 8, withErrors: true)
      }
      #expect(ctl("put", "foo", "bar") == "OK\n")
      #expect(ctl("put", "foo2", "bar2") == "OK\n")
      #expect(ctl("get", "foo") == "foo\nbar\n")
      #expect(ctl("get", "--prefix", "foo") == "foo\nbar\nfoo2\nbar2\n")
      #expect(ctl("get", "--prefix", "foo", "--keys-only") == "foo\n\nfoo2\n\n")
      #expect(
        ctl("get", "--prefix", "foo", "--sort-by=VALUE", "--order=DESCEND", "--print-value-only")
          == "bar2\nbar\n")
      #expect(ctl("get", "--prefix", "foo", "--limit=1", "--consistency=s") == "foo\nbar\n")
      #expect(ctl("get", "foo", "--rev=1") == "")
      #expect(ctl("put", "foo", "baz", "--prev-kv") == "OK\nfoo\nbar\n")
      #expect(ctl("del", "foo2") == "1\n")
      let txn = Harness.run(
        [
          "sh", "-c",
          "printf 'value(\"foo\") = \"baz\"\\n\\nput foo qux\\n\\nput foo nope\\n\\n' | "
            + "ETCDCTL_API=3 etcdctl --endpoints \(member.clientURL) txn",
        ], timeout: 8)
      #expect(txn == "SUCCESS\n\nOK\n")
      #expect(ctl("compact", "3") == "compacted revision 3\n")
      #expect(
        ctl("get", "foo", "--rev=2").contains(
          "etcdserver: mvcc: required revision has been compacted"))
      #expect(ctl("put", "", "x").contains("etcdserver: key is not provided"))
      // etcd 3.4.23 reports this hash after the same writes.
      #expect(ctl("endpoint", "hashkv") == "\(member.clientURL), 718631238\n")
      #expect(ctl("defrag") == "Finished defragmenting etcd member[\(member.clientURL)]\n")
      #expect(ctl("endpoint", "hashkv") == "\(member.clientURL), 718631238\n")
      #expect(ctl("alarm", "list") == "")

      let id = ctl("member", "list").split(separator: ",").first.map(String.init) ?? ""
      #expect(
        ctl("member", "list")
          == "\(id), started, default, \(member.peerURL), \(member.clientURL), false\n")
      let status = ctl("endpoint", "status").split(separator: ",").map {
        $0.trimmingCharacters(in: .whitespacesAndNewlines)
      }
      // endpoint, ID, version, db size, is leader, is learner, term, index, applied
      #expect(status.count >= 9 && status[1] == id && status[2] == "3.4.23", "\(status)")
      #expect(status.count >= 9 && status[4] == "true" && status[5] == "false", "\(status)")
      #expect(ctl("endpoint", "health").contains("is healthy"))

      member.crash()
      member.restart()
      #expect(Harness.waitFor(15) { member.isUp })
      #expect(ctl("get", "foo") == "foo\nqux\n")
      let json = ctl("get", "foo", "-w", "json")
      #expect(json.contains("\"mod_revision\":6") && json.contains("\"version\":3"), "\(json)")
      #expect(ctl("put", "after", "1", "-w", "json").contains("\"revision\":7"))
    }
  }

  @Test("watch: from history, live with prev kv, and canceled when its start is compacted")
  func watch() throws {
    try Harness.withSingleMember { member, dir in
      func ctl(_ arguments: String...) -> String {
        Harness.run(
          ["ETCDCTL_API=3", "etcdctl", "--endpoints", member.clientURL] + arguments, timeout: 8,
          withErrors: true)
      }
      /// etcdctl watch in the background, its output in a file.
      func watch(_ name: String, _ arguments: String...) -> (Process, String) {
        let path = dir + "/" + name + ".out"
        fclose(fopen(path, "w"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
          ["ETCDCTL_API=3", "etcdctl", "--endpoints", member.clientURL, "watch"] + arguments
        process.standardOutput = FileHandle(forWritingAtPath: path)
        try? process.run()
        return (process, path)
      }
      func output(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
      }
      _ = ctl("put", "a", "1")
      _ = ctl("put", "b", "2")
      let (all, allPath) = watch("all", "--prefix", "", "--rev=1")
      let (one, onePath) = watch("one", "a", "--prev-kv")
      defer {
        all.terminate()
        one.terminate()
      }
      #expect(Harness.waitFor(5) { output(allPath) == "PUT\na\n1\nPUT\nb\n2\n" })
      // The live watcher is registered once the history watcher has caught
      // up and a write reaches it; retry the first write until it does.
      #expect(
        Harness.waitFor(5) {
          _ = ctl("put", "a", "3")
          return output(onePath).hasPrefix("PUT\na\n")
        })
      _ = ctl("del", "b")
      #expect(Harness.waitFor(5) { output(allPath).hasSuffix("DELETE\nb\n\n") })
      #expect(output(onePath).hasPrefix("PUT\na\n1\na\n3\n"), "prev kv first, as etcdctl prints")
      _ = ctl("compact", "3")
      #expect(
        ctl("watch", "a", "--rev=2")
          == "watch was canceled (etcdserver: mvcc: required revision has been compacted)\n"
          + "Error: watch is canceled by the server\n")
    }
  }

  @Test("lease grant, attach, timetolive, list, expiry, revoke, keep-alive: etcd's outputs")
  func leases() throws {
    try Harness.withSingleMember { member, _ in
      func ctl(_ arguments: String...) -> String {
        Harness.run(
          ["ETCDCTL_API=3", "etcdctl", "--endpoints", member.clientURL] + arguments, timeout: 8,
          withErrors: true
        ).split(separator: "\n").filter { !$0.hasPrefix("{\"level\"") }.joined(separator: "\n")
      }
      let granted = ctl("lease", "grant", "2")
      let id = granted.split(separator: " ").dropFirst().first.map(String.init) ?? "?"
      #expect(granted == "lease \(id) granted with TTL(2s)")
      #expect(ctl("put", "k1", "v", "--lease=\(id)") == "OK")
      #expect(ctl("put", "k2", "v", "--lease=\(id)") == "OK")
      #expect(
        ctl("put", "k3", "v", "--lease=1234") == "Error: etcdserver: requested lease not found")
      #expect(
        ctl("lease", "timetolive", id, "--keys").hasSuffix("attached keys([k1 k2])"))
      #expect(ctl("lease", "list") == "found 1 leases\n\(id)")
      // The leader revokes it once its two seconds are up, keys and all.
      #expect(Harness.waitFor(6) { ctl("get", "k", "--prefix").isEmpty })
      #expect(ctl("lease", "timetolive", id) == "lease \(id) already expired")
      let second =
        ctl("lease", "grant", "60").split(separator: " ").dropFirst().first
        .map(String.init) ?? "?"
      #expect(ctl("put", "k4", "v", "--lease=\(second)") == "OK")
      #expect(
        ctl("lease", "keep-alive", "--once", second) == "lease \(second) keepalived with TTL(60)")
      #expect(ctl("lease", "revoke", second) == "lease \(second) revoked")
      #expect(ctl("get", "k4").isEmpty)
      #expect(
        ctl("lease", "revoke", second)
          == "Error: failed to revoke lease (etcdserver: requested lease not found)")
    }
  }
}
