import EtcdProto
import Raft
import Testing

@Suite("Fast log repair with conflict hints (§3.5)")
struct ConflictHintTests {
  struct HintCase: Sendable, CustomTestStringConvertible {
    var name: String
    var index: UInt64
    var logTerm: UInt64
    var hint: UInt64
    var hintTerm: UInt64
    var testDescription: String { name }
  }

  @Test(
    "§3.5 a rejection points the leader at the last entry that can match the term it tried",
    arguments: [
      HintCase(name: "past the end of the log", index: 60, logTerm: 3, hint: 24, hintTerm: 2),
      HintCase(
        name: "inside a term older than tried", index: 10, logTerm: 3, hint: 10, hintTerm: 2),
      HintCase(name: "tried term older than ours", index: 10, logTerm: 1, hint: 3, hintTerm: 1),
    ])
  func rejectionHint(c: HintCase) throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    // 2 holds 1...3 of term 1, then 4...24 of term 2.
    try cluster[2].step(
      message(
        .msgApp, from: 1, to: 2, term: 2, index: 4, logTerm: 2, commit: 4,
        entries: (5...24).map { entry($0, term: 2) }))
    cluster.process(2)
    _ = cluster.take { _ in true }
    try cluster[2].step(
      message(.msgApp, from: 1, to: 2, term: 2, index: c.index, logTerm: c.logTerm))
    cluster.process(2)
    let reply = try #require(cluster.take { $0.from == 2 }.first)
    #expect(reply.reject)
    #expect(reply.index == c.index)
    #expect(reply.rejectHint == c.hint)
    #expect(reply.hintTerm == c.hintTerm)
  }

  struct RepairCase: Sendable, CustomTestStringConvertible {
    /// Entries the deposed leader appended alone in term 2.
    var stale: Int
    /// Entries committed by the other members in term 3.
    var committed: Int
    var maxRejections: Int
    var testDescription: String { "\(stale) stale, \(committed) committed" }
  }

  @Test(
    "§3.5 a follower with a long divergent log is repaired in few round trips",
    arguments: [
      RepairCase(stale: 50, committed: 60, maxRejections: 2),
      RepairCase(stale: 50, committed: 10, maxRejections: 2),
      RepairCase(stale: 0, committed: 60, maxRejections: 2),
    ])
  func divergentFollowerRepaired(c: RepairCase) throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    cluster.isolate(1)
    for i in 0..<c.stale { try cluster.propose(1, "stale \(i)") }
    cluster.settle()
    for _ in 0..<60 where cluster[2].role != .leader && cluster[3].role != .leader {
      cluster.tick(2)
      cluster.tick(3)
    }
    let first: UInt64 = cluster[2].role == .leader ? 2 : 3
    for i in 0..<c.committed { try cluster.propose(first, "new \(i)") }
    cluster.settle()
    // A leader elected after the new entries starts probing 1 at its own end.
    let second: UInt64 = 5 - first
    cluster[first].transferLeader(to: second)
    cluster.settle()
    #expect(cluster[second].role == .leader)
    let before = cluster.sent.count
    cluster.healAll()
    cluster.tickAll(3)
    let rejections = cluster.sent[before...].filter {
      $0.type == .msgAppResp && $0.from == 1 && $0.reject
    }
    #expect(rejections.count >= 1)
    #expect(rejections.count <= c.maxRejections)
    #expect(cluster.log(1).map(\.0) == cluster.log(second).map(\.0))
    #expect(cluster.log(1).map(\.1) == cluster.log(second).map(\.1))
    #expect(cluster.appliedData(1) == (0..<c.committed).map { "new \($0)" })
  }
}
