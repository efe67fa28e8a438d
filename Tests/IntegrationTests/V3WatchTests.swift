import Foundation
import Testing

/// Watch features beyond etcdctl's reach, through grpcio: the checks live
/// in clients/watch_check.py.
@Suite("v3 watch: catch-up batches, fragments, progress notifications", .serialized)
struct V3WatchTests {
  @Test("history in batches of at most 1000 revisions, fragments under the limit, progress")
  func watchFeatures() throws {
    let python = try Harness.python()
    let script = Harness.clientScript("watch_check.py")
    let flags = [
      "--max-request-bytes", "100000", "--experimental-watch-progress-notify-interval", "200ms",
    ]
    try Harness.withSingleMember(extraArguments: flags) { member, _ in
      let output = Harness.run(
        [python, script, "127.0.0.1", "\(member.clientPort)"], timeout: 90, withErrors: true)
      #expect(output == "OK\n", "\(output)")
    }
  }

  @Test("half-closed streams, empty ranges, duplicate IDs, negative and compacted starts: as etcd")
  func watchEdgesAsEtcd() throws {
    let python = try Harness.python()
    let script = Harness.clientScript("watch_edges.py")
    try Harness.withReferenceAndMember { reference, member in
      let theirs = Harness.run(
        [python, script, "127.0.0.1", "\(reference.clientPort)"], timeout: 60, withErrors: true)
      let ours = Harness.run(
        [python, script, "127.0.0.1", "\(member.clientPort)"], timeout: 60, withErrors: true)
      #expect(theirs.contains("ended at the deadline") && theirs.hasSuffix("done\n"), "\(theirs)")
      #expect(ours == theirs, "\(diff(theirs, ours))")
    }
  }
}
