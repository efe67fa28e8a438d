import Foundation
import Synchronization
import Testing

/// What the writer threads did, shared with the test.
private final class LoadLog: Sendable {
  let stop = Atomic<Bool>(false)
  let finished = Atomic<Int>(0)
  /// Keys whose PUT was answered 200/201 with the written node, and values.
  let acknowledged = Mutex<[String: String]>([:])
  /// Every key sent, acknowledged or not: nothing else may show up.
  let attempted = Mutex<Set<String>>([])
}

@Suite("three members under write load while members are killed", .serialized)
struct ClusterLoadTests {
  /// PUTs distinct keys /load/w<writer>-<n>, each to the next member in
  /// turn, so a dead member costs a writer one failed request, not a stall.
  private static func write(_ writer: Int, ports: [Int], log: LoadLog) {
    var target = writer % ports.count
    for n in 0..<1_000_000 where !log.stop.load(ordering: .relaxed) {
      let key = "w\(writer)-\(n)"
      let value = "v\(writer)-\(n)"
      log.attempted.withLock { _ = $0.insert(key) }
      let answer = Harness.http(
        "PUT", port: ports[target], "/v2/keys/load/" + key, form: "value=" + value)
      target = (target + 1) % ports.count
      guard let answer, answer.status == 200 || answer.status == 201,
        let node = answer.json?["node"] as? [String: Any],
        node["key"] as? String == "/load/" + key, node["value"] as? String == value
      else { continue }
      log.acknowledged.withLock { $0[key] = value }
    }
    log.finished.add(1, ordering: .relaxed)
  }

  /// The member's own (non-quorum) view of /load: key name to value.
  private func stored(_ member: Member) -> [String: String]? {
    guard
      let answer = Harness.http(
        "GET", port: member.clientPort, "/v2/keys/load?recursive=true", timeout: 10),
      let node = answer.json?["node"] as? [String: Any],
      let nodes = node["nodes"] as? [[String: Any]]
    else { return nil }
    var values: [String: String] = [:]
    for node in nodes {
      guard let key = node["key"] as? String, let value = node["value"] as? String else { continue }
      values[String(key.dropFirst("/load/".count))] = value
    }
    return values
  }

  private func leader(of members: [Member]) -> Member? {
    var leader: Member?
    _ = Harness.waitFor(5) {
      leader = members.first(where: \.isLeader)
      return leader != nil
    }
    return leader
  }

  @Test("acknowledged writes survive kill -9 of a follower, then of the leader, on all members")
  func acknowledgedWritesSurvive() throws {
    try Harness.withCluster(names: ["m1", "m2", "m3"]) { members, _ in
      let log = LoadLog()
      let ports = members.map(\.clientPort)
      let writers = 4
      for writer in 0..<writers {
        Thread { Self.write(writer, ports: ports, log: log) }.start()
      }
      let start = Date()
      func at(_ seconds: Double) {
        let wait = seconds - Date().timeIntervalSince(start)
        if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
      }
      defer { log.stop.store(true, ordering: .relaxed) }

      at(1)
      let follower = try #require(members.first { !$0.isLeader })
      follower.crash()
      at(2)
      follower.restart()
      // Killing the leader before the follower is back would leave no quorum.
      #expect(Harness.waitFor(5) { follower.isUp }, "the follower came back")
      at(3)
      let oldLeader = try #require(leader(of: members), "no leader before the second kill")
      let acknowledgedCount = { log.acknowledged.withLock { $0.count } }
      let beforeLeaderKill = acknowledgedCount()
      oldLeader.crash()
      at(4)
      oldLeader.restart()
      at(5)
      let afterLeaderRestart = acknowledgedCount()
      at(6.5)
      // Leader elections take 1-2 s here, longer on a busy machine.
      let resumed = Harness.waitFor(3) { acknowledgedCount() > afterLeaderRestart }
      log.stop.store(true, ordering: .relaxed)
      let loadSeconds = Date().timeIntervalSince(start)
      // A writer is at most one timed-out request (2 s) from noticing.
      #expect(Harness.waitFor(5) { log.finished.load(ordering: .relaxed) == writers })

      let converging = Date()
      var indexes: [String?] = []
      let converged = Harness.waitFor(15) {
        indexes = members.map {
          Harness.http("GET", port: $0.clientPort, "/v2/keys/load?quorum=true")?
            .headers["x-etcd-index"]
        }
        return !indexes.contains(nil) && Set(indexes).count == 1
      }
      try #require(converged, "X-Etcd-Index per member: \(indexes)")
      let convergeSeconds = Date().timeIntervalSince(converging)

      let acknowledged = log.acknowledged.withLock { $0 }
      let attempted = log.attempted.withLock { $0 }
      let rate = Int(Double(acknowledged.count) / loadSeconds)
      print(
        "cluster load: \(writers) writers, \(acknowledged.count) of \(attempted.count) PUTs",
        "acknowledged in \(String(format: "%.1f", loadSeconds)) s (\(rate)/s);",
        "all members at index \(indexes[0] ?? "?")",
        "\(String(format: "%.1f", convergeSeconds)) s after the load;",
        "\(beforeLeaderKill) before the leader's kill, \(afterLeaderRestart) 1 s after its restart")
      #expect(acknowledged.count >= 100, "too few writes to tell anything")
      #expect(resumed, "writes went on after the leader's restart")
      var views: [[String: String]] = []
      for member in members {
        let view = try #require(stored(member), "\(member.name) lists /load")
        let lost = acknowledged.filter { view[$0.key] != $0.value }.keys.sorted()
        #expect(lost.isEmpty, "\(member.name) lost \(lost.count), e.g. \(lost.prefix(5))")
        let phantom = view.keys.filter { !attempted.contains($0) }.sorted()
        #expect(phantom.isEmpty, "\(member.name) holds keys never written: \(phantom.prefix(5))")
        views.append(view)
      }
      #expect(views.allSatisfy { $0 == views[0] }, "members hold different /load contents")
    }
  }
}
