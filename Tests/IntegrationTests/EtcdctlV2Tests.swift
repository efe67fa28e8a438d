import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// etcdctl 3.4 (Debian etcd-client) in v2 mode against a real member; the
/// expected outputs are what it prints against etcd 3.4.23.
@Suite("etcdctl v2 against swetcd", .serialized)
struct EtcdctlV2Tests {
  func ctl(_ member: Member, _ arguments: String...) -> String {
    Harness.run(["ETCDCTL_API=2", "etcdctl", "--endpoints", member.clientURL] + arguments)
  }

  /// Starts a long-running etcdctl whose stdout goes to `output`.
  func background(_ member: Member, _ arguments: [String], output: String) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["ETCDCTL_API=2", "etcdctl", "--endpoints", member.clientURL] + arguments
    fclose(fopen(output, "w"))
    process.standardOutput = FileHandle(forWritingAtPath: output)
    try process.run()
    return process
  }

  /// SIGTERM, then SIGKILL if it is still there after 2 s; reaps it.
  func end(_ process: Process) {
    guard process.isRunning else { return }
    process.terminate()
    if !Harness.waitFor(2, { !process.isRunning }) {
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
    }
  }

  func watchersRegistered(_ member: Member, _ count: Int) -> Bool {
    Harness.waitFor(5) {
      Harness.curl(member.clientURL + "/v2/stats/store").contains("\"watchers\":\(count)")
    }
  }

  func contents(_ path: String) -> String {
    (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
  }

  @Test("set, get, mk, mkdir, setdir, ls, update, rm, rmdir, watch, member list, cluster-health")
  func commands() throws {
    try #require(
      FileManager.default.isExecutableFile(atPath: "/usr/bin/etcdctl"),
      "etcdctl is missing: tools/setup installs etcd-client")
    try Harness.withSingleMember { member, dir in
      #expect(ctl(member, "set", "/a", "1") == "1\n")
      #expect(ctl(member, "get", "/a") == "1\n")
      #expect(ctl(member, "mk", "/b", "2") == "2\n")
      #expect(ctl(member, "mk", "/b", "3") == "", "an existing key is refused (error on stderr)")
      #expect(ctl(member, "mkdir", "/d") == "")
      #expect(ctl(member, "setdir", "/e") == "")
      #expect(ctl(member, "ls", "--recursive", "/") == "/a\n/b\n/d\n/e\n")
      #expect(ctl(member, "update", "/a", "5") == "5\n")
      #expect(ctl(member, "rm", "/a") == "PrevNode.Value: 5\n")
      #expect(ctl(member, "rmdir", "/d") == "")
      #expect(ctl(member, "ls", "/") == "/b\n/e\n")
      let members = ctl(member, "member", "list")
      #expect(members.contains("name=default") && members.contains("isLeader=true"))
      #expect(ctl(member, "cluster-health").contains("cluster is healthy"))
      let watchOutput = dir + "/watch.out"
      let watcher = try background(member, ["watch", "/w"], output: watchOutput)
      defer { end(watcher) }
      #expect(watchersRegistered(member, 1))
      _ = ctl(member, "set", "/w", "hello")
      #expect(Harness.waitFor(5) { contents(watchOutput) == "hello\n" })
    }
  }

  @Test("exec-watch runs its command once per event with ETCD_WATCH_ACTION, _KEY and _VALUE set")
  func execWatch() throws {
    try #require(
      FileManager.default.isExecutableFile(atPath: "/usr/bin/etcdctl"),
      "etcdctl is missing: tools/setup installs etcd-client")
    try Harness.withSingleMember { member, dir in
      let events = dir + "/events"
      // Without a flag before the key, etcdctl 3.4 loses the "--" and takes
      // the last argument for the key, so the documented --recursive form.
      let watcher = try background(
        member,
        [
          "exec-watch", "--recursive", "/ew", "--", "sh", "-c",
          "echo \"$ETCD_WATCH_ACTION $ETCD_WATCH_KEY $ETCD_WATCH_VALUE\" >> \(events)",
        ], output: "/dev/null")
      defer { end(watcher) }
      #expect(watchersRegistered(member, 1))
      _ = ctl(member, "set", "/ew/a", "1")
      _ = ctl(member, "mk", "/ew/b", "2")
      _ = ctl(member, "rm", "/ew/a")
      // One command per event, run concurrently: lines come in any order.
      let expected = ["create /ew/b 2", "delete /ew/a ", "set /ew/a 1"]
      let lines = { contents(events).split(separator: "\n").map(String.init).sorted() }
      #expect(Harness.waitFor(5) { lines() == expected }, "\(lines())")
    }
  }
}
