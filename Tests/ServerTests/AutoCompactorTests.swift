import Testing

@testable import Server

/// etcd's automatic compaction schedules, driven by a fake clock.
struct AutoCompactorTests {
  @Test(
    "periodic: the first compaction after one period, to the start's revision; then a period and a tick back"
  )
  func periodic() {
    var compactor = AutoCompactor(mode: .periodic(periodMs: 10_000), startMs: 0, revision: 5)
    #expect(compactor.tickMs == 1000)
    var answers: [Int64?] = []
    // One revision a second: at t seconds the store is at 5 + t.
    for second in 1...10 {
      answers.append(
        compactor.tick(nowMs: UInt64(second) * 1000, revision: 5 + Int64(second), isLeader: true))
    }
    #expect(answers == Array(repeating: nil, count: 9) + [5])
    compactor.compacted(to: 5, nowMs: 10_000)
    // Then every period, each time to the revision of a period and one
    // sampling interval before, as etcd's.
    var next: [Int64] = []
    for second in 11...30 {
      if let revision = compactor.tick(
        nowMs: UInt64(second) * 1000, revision: 5 + Int64(second), isLeader: true)
      {
        next.append(revision)
        compactor.compacted(to: revision, nowMs: UInt64(second) * 1000)
      }
    }
    #expect(next == [14, 24])
  }

  @Test("periodic: periods over an hour sample every 6 minutes and compact hourly")
  func longPeriods() {
    var compactor = AutoCompactor(
      mode: .periodic(periodMs: 3 * AutoCompactor.hourMs), startMs: 0, revision: 1)
    #expect(compactor.tickMs == 6 * 60 * 1000)
    var compactions: [(hour: Double, revision: Int64)] = []
    // One revision per tick, for 5 hours.
    for tick in 1...50 {
      let now = UInt64(tick) * compactor.tickMs
      if let revision = compactor.tick(nowMs: now, revision: 1 + Int64(tick), isLeader: true) {
        compactions.append((Double(now) / Double(AutoCompactor.hourMs), revision))
        compactor.compacted(to: revision, nowMs: now)
      }
    }
    #expect(compactions.map(\.hour) == [3, 4, 5])
    // Each keeps three hours and a tick (31 ticks) of history.
    #expect(compactions.map(\.revision) == [1, 10, 20])
  }

  @Test("a follower samples but never compacts; a failed compaction is tried again")
  func followerAndRetry() {
    var compactor = AutoCompactor(mode: .periodic(periodMs: 1000), startMs: 0, revision: 1)
    for tick in 1...20 {
      #expect(
        compactor.tick(nowMs: UInt64(tick) * 100, revision: Int64(tick), isLeader: false) == nil)
    }
    // Leader now: it compacts at once, to the revision of a period and a
    // tick ago.
    #expect(compactor.tick(nowMs: 2100, revision: 21, isLeader: true) == 10)
    // Not reported as done: asked again at the next tick.
    #expect(compactor.tick(nowMs: 2200, revision: 22, isLeader: true) == 11)
  }

  @Test("revision: every 5 minutes, to the current revision less the retention")
  func revision() {
    var compactor = AutoCompactor(mode: .revision(retain: 100), startMs: 0, revision: 1)
    #expect(compactor.tickMs == 5 * 60 * 1000)
    #expect(compactor.tick(nowMs: 300_000, revision: 50, isLeader: true) == nil)
    #expect(compactor.tick(nowMs: 600_000, revision: 150, isLeader: true) == 50)
    compactor.compacted(to: 50, nowMs: 600_000)
    // Nothing written since: nothing to do.
    #expect(compactor.tick(nowMs: 900_000, revision: 150, isLeader: true) == nil)
    #expect(compactor.tick(nowMs: 1_200_000, revision: 400, isLeader: false) == nil)
    #expect(compactor.tick(nowMs: 1_500_000, revision: 400, isLeader: true) == 300)
  }
}
