import Foundation
import Testing

/// etcdctl 3.4 (Debian etcd-client) in v2 mode against a real member; the
/// expected outputs are what it prints against etcd 3.4.23.
@Suite("etcdctl v2 against swetcd", .serialized)
struct EtcdctlV2Tests {
  @Test("set, get, mk, mkdir, setdir, ls, update, rm, rmdir, watch, member list, cluster-health")
  func commands() throws {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/etcdctl") else {
      Issue.record("etcdctl is missing: tools/setup installs etcd-client")
      return
    }
    withScratch { dir in
      let member = Member(name: "default", dataDir: dir + "/default.etcd")
      member.start(initialCluster: "default=\(member.peerURL)")
      defer { member.crash() }
      #expect(Harness.waitFor(10) { member.isUp })
      func ctl(_ arguments: String...) -> String {
        Harness.run(["ETCDCTL_API=2", "etcdctl", "--endpoints", member.clientURL] + arguments)
      }
      #expect(ctl("set", "/a", "1") == "1\n")
      #expect(ctl("get", "/a") == "1\n")
      #expect(ctl("mk", "/b", "2") == "2\n")
      #expect(ctl("mk", "/b", "3") == "", "an existing key is refused (error on stderr)")
      #expect(ctl("mkdir", "/d") == "")
      #expect(ctl("setdir", "/e") == "")
      #expect(ctl("ls", "--recursive", "/") == "/a\n/b\n/d\n/e\n")
      #expect(ctl("update", "/a", "5") == "5\n")
      #expect(ctl("rm", "/a") == "PrevNode.Value: 5\n")
      #expect(ctl("rmdir", "/d") == "")
      #expect(ctl("ls", "/") == "/b\n/e\n")
      let members = ctl("member", "list")
      #expect(members.contains("name=default") && members.contains("isLeader=true"))
      #expect(ctl("cluster-health").contains("cluster is healthy"))
      let watchOutput = dir + "/watch.out"
      let watcher = Process()
      watcher.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      watcher.arguments = [
        "ETCDCTL_API=2", "etcdctl", "--endpoints", member.clientURL, "watch", "/w",
      ]
      fclose(fopen(watchOutput, "w"))
      watcher.standardOutput = FileHandle(forWritingAtPath: watchOutput)
      try? watcher.run()
      defer { if watcher.isRunning { watcher.terminate() } }
      // Wait until the watch is registered, then write.
      #expect(
        Harness.waitFor(5) {
          Harness.curl(member.clientURL + "/v2/stats/store").contains("\"watchers\":1")
        })
      _ = ctl("set", "/w", "hello")
      #expect(
        Harness.waitFor(5) {
          ((try? String(contentsOfFile: watchOutput, encoding: .utf8)) ?? "") == "hello\n"
        })
    }
  }
}
