import EtcdProto
import Foundation
import Net
import Synchronization
import Testing

/// A put the member acknowledged: the value and the revision it reported.
private struct Acknowledged: Sendable, Equatable {
  let value: String
  let revision: Int64
}

/// What the writer threads did, shared with the test.
private final class V3LoadLog: Sendable {
  let stop = Atomic<Bool>(false)
  let finished = Atomic<Int>(0)
  let acknowledged = Mutex<[String: Acknowledged]>([:])
  /// Every key sent, acknowledged or not: nothing else may show up.
  let attempted = Mutex<Set<String>>([])

  var acknowledgedCount: Int { acknowledged.withLock { $0.count } }
}

/// v3 puts under kill -9: what was acknowledged is there afterwards, with
/// the revision it was acknowledged with, on every member.
@Suite("v3 writes survive kill -9", .serialized)
struct V3DurabilityTests {
  static let prefix = "/load/"

  /// Puts distinct keys over gRPC, one connection per writer; after a
  /// failure the writer reconnects, to the next member in turn.
  private static func write(_ writer: Int, ports: [Int], log: V3LoadLog) {
    var target = writer % ports.count
    var client: V3Client?
    defer {
      client?.close()
      log.finished.add(1, ordering: .relaxed)
    }
    for n in 0..<1_000_000 where !log.stop.load(ordering: .relaxed) {
      if client == nil { client = try? V3Client(port: ports[target]) }
      guard let connected = client else {
        target = (target + 1) % ports.count
        usleep(50_000)
        continue
      }
      let key = prefix + "w\(writer)-\(n)"
      let value = "v\(writer)-\(n)"
      log.attempted.withLock { _ = $0.insert(key) }
      switch connected.put(key, value, seconds: 5) {
      case .success(let response):
        let write = Acknowledged(value: value, revision: response.header.revision)
        log.acknowledged.withLock { $0[key] = write }
      case .failure:
        connected.close()
        client = nil
        target = (target + 1) % ports.count
      }
    }
  }

  private static func startWriters(_ count: Int, ports: [Int], log: V3LoadLog) {
    for writer in 0..<count {
      Thread { write(writer, ports: ports, log: log) }.start()
    }
  }

  /// Checks `member`'s own store against the log: every acknowledged put
  /// with its value and revision, written once; no key never sent; the
  /// revisions of the load contiguous from the first write up to the
  /// member's revision. Returns what the member holds.
  private func check(_ member: Member, _ log: V3LoadLog) throws -> [String: Acknowledged] {
    let client = try V3Client(port: member.clientPort)
    defer { client.close() }
    let answer = try client.range(prefix: Self.prefix, serializable: true).get()
    var held: [String: Acknowledged] = [:]
    for kv in answer.kvs {
      let key = String(decoding: kv.key, as: UTF8.self)
      held[key] = Acknowledged(
        value: String(decoding: kv.value, as: UTF8.self), revision: kv.modRevision)
      #expect(
        kv.version == 1 && kv.createRevision == kv.modRevision,
        "\(member.name): \(key) written more than once: \(kv)")
    }
    let acknowledged = log.acknowledged.withLock { $0 }
    let lost = acknowledged.filter { held[$0.key] != $0.value }.keys.sorted()
    #expect(
      lost.isEmpty,
      "\(member.name) lost or changed \(lost.count), e.g. \(lost.prefix(3).map { "\($0): \(acknowledged[$0]!) vs \(String(describing: held[$0]))" })"
    )
    let attempted = log.attempted.withLock { $0 }
    let phantom = held.keys.filter { !attempted.contains($0) }.sorted()
    #expect(phantom.isEmpty, "\(member.name) holds keys never written: \(phantom.prefix(5))")
    // A fresh store is at revision 1, and each put of the load adds one.
    let revisions = held.values.map(\.revision).sorted()
    let expected = Array(2..<(2 + Int64(revisions.count)))
    #expect(revisions == expected, "\(member.name): revisions not contiguous from 2")
    #expect(
      answer.header.revision == 1 + Int64(revisions.count),
      "\(member.name): header \(answer.header.revision)")
    return held
  }

  private func waitForWriters(_ log: V3LoadLog, _ count: Int) -> Bool {
    log.stop.store(true, ordering: .relaxed)
    // A writer is at most one timed-out put (5 s) from noticing.
    return Harness.waitFor(8) { log.finished.load(ordering: .relaxed) == count }
  }

  @Test("one member: acknowledged puts keep their values and revisions across kill -9")
  func singleMemberKeepsAcknowledgedPuts() throws {
    try Harness.withSingleMember { member, _ in
      let log = V3LoadLog()
      let writers = 8
      let start = Date()
      Self.startWriters(writers, ports: [member.clientPort], log: log)
      defer { log.stop.store(true, ordering: .relaxed) }
      usleep(2_000_000)
      let beforeKill = log.acknowledgedCount
      member.crash()
      let atKill = log.acknowledgedCount
      member.restart()
      try #require(Harness.waitFor(15) { member.isUp }, "the member came back")
      let afterRestart = log.acknowledgedCount
      let resumed = Harness.waitFor(5) { log.acknowledgedCount > afterRestart + 100 }
      #expect(waitForWriters(log, writers), "the writers stopped")
      let seconds = Date().timeIntervalSince(start)
      let held = try check(member, log)
      print(
        "v3 durability, 1 member: \(writers) writers, \(log.acknowledgedCount) of",
        "\(log.attempted.withLock { $0.count }) puts acknowledged in",
        "\(String(format: "%.1f", seconds)) s; \(beforeKill)-\(atKill) by the kill;",
        "\(held.count) held afterwards")
      #expect(beforeKill >= 100, "too few writes before the kill to tell anything")
      #expect(resumed, "writes went on after the restart")
    }
  }

  @Test(
    "three members: acknowledged puts are on every member after kill -9 of a follower, then the leader; revisions and HashKV agree"
  )
  func threeMembersAgreeAfterKills() throws {
    try Harness.withCluster(names: ["m1", "m2", "m3"]) { members, _ in
      let log = V3LoadLog()
      let writers = 6
      let start = Date()
      Self.startWriters(writers, ports: members.map(\.clientPort), log: log)
      defer { log.stop.store(true, ordering: .relaxed) }
      func at(_ seconds: Double) {
        let wait = seconds - Date().timeIntervalSince(start)
        if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
      }
      at(1.5)
      let follower = try #require(members.first { !$0.isLeader })
      follower.crash()
      at(2.5)
      follower.restart()
      // Killing the leader before the follower is back would leave no quorum.
      try #require(Harness.waitFor(10) { follower.isUp }, "the follower came back")
      var leader: Member?
      _ = Harness.waitFor(5) {
        leader = members.first(where: \.isLeader)
        return leader != nil
      }
      let oldLeader = try #require(leader, "no leader before the second kill")
      let beforeLeaderKill = log.acknowledgedCount
      oldLeader.crash()
      usleep(1_000_000)
      oldLeader.restart()
      try #require(Harness.waitFor(10) { oldLeader.isUp }, "the old leader came back")
      let afterRestart = log.acknowledgedCount
      let resumed = Harness.waitFor(5) { log.acknowledgedCount > afterRestart + 100 }
      #expect(waitForWriters(log, writers), "the writers stopped")
      let loadSeconds = Date().timeIntervalSince(start)

      let clients = try members.map { try V3Client(port: $0.clientPort) }
      defer { for client in clients { client.close() } }
      var revisions: [Int64?] = []
      let converged = Harness.waitFor(15) {
        revisions = clients.map { $0.revision(serializable: true) }
        return !revisions.contains(nil) && Set(revisions).count == 1
      }
      try #require(converged, "revisions per member: \(revisions)")
      let revision = revisions[0]!
      var views: [[String: Acknowledged]] = []
      for member in members { views.append(try check(member, log)) }
      #expect(views.allSatisfy { $0 == views[0] }, "members hold different /load contents")
      let hashes = clients.map { try? $0.hashKV(revision: revision).get().hash }
      #expect(!hashes.contains(nil) && Set(hashes).count == 1, "HashKV at \(revision): \(hashes)")
      print(
        "v3 durability, 3 members: \(writers) writers, \(log.acknowledgedCount) of",
        "\(log.attempted.withLock { $0.count }) puts acknowledged in",
        "\(String(format: "%.1f", loadSeconds)) s; \(beforeLeaderKill) before the leader's kill;",
        "all members at revision \(revision)")
      #expect(beforeLeaderKill >= 100, "too few writes to tell anything")
      #expect(resumed, "writes went on after the leader's restart")
    }
  }
}
