import Testing

@testable import Server

@Suite("Request waiters")
struct RequestWaitersTests {
  /// What a callback was given, as text.
  static func describe(_ result: ApplyResult) -> String {
    switch result {
    case .failed(let message), .timedOut(.unapplied(let message)): return message
    case .timedOut(.awaitingLeader): return "no leader"
    default: return "done"
    }
  }

  @Test("each request ends once: applied, or timed out after its own timeout")
  func timeouts() {
    let waiters = RequestWaiters()
    var ended: [String] = []
    let short = waiters.register(timeoutMs: 100, nowMs: 1000) {
      ended.append("short " + Self.describe($0))
    }
    let long = waiters.register(timeoutMs: 5000, nowMs: 1000) {
      ended.append("long " + Self.describe($0))
    }
    let applied = waiters.register(timeoutMs: 100, nowMs: 1010) {
      ended.append("applied " + Self.describe($0))
    }
    waiters.trigger(applied, .done)
    waiters.expire(nowMs: 1099)
    #expect(ended == ["applied done"])
    waiters.expire(nowMs: 1100)
    #expect(ended == ["applied done", "short etcdserver: request timed out"])
    #expect(!waiters.isWaiting(short) && waiters.isWaiting(long))
    waiters.expire(nowMs: 6000)
    #expect(ended.last == "long etcdserver: request timed out")
    waiters.trigger(long, .done)
    #expect(ended.count == 3 && waiters.count == 0)
  }

  @Test("a request given up at its client's deadline is told what the server decides, once")
  func expireOne() {
    let waiters = RequestWaiters()
    waiters.timeoutResult = { _, startMs in
      startMs == 0 ? .timedOut(.awaitingLeader) : .timedOut(.unapplied("at \(startMs)"))
    }
    var ended: [String] = []
    let waitingForLeader = waiters.register(timeoutMs: 7000, nowMs: 0) {
      ended.append(Self.describe($0))
    }
    let proposed = waiters.register(timeoutMs: 7000, nowMs: 40) { ended.append(Self.describe($0)) }
    waiters.expire(proposed)
    waiters.expire(waitingForLeader)
    waiters.expire(proposed)
    waiters.expire(nowMs: 8000)
    #expect(ended == ["at 40", "no leader"] && waiters.count == 0)
  }

  @Test("a callback may register and end other requests")
  func reentrant() {
    let waiters = RequestWaiters()
    var second: UInt64 = 0
    var ended: [String] = []
    let first = waiters.register(timeoutMs: 10, nowMs: 0) { _ in
      second = waiters.register(timeoutMs: 10, nowMs: 0) {
        ended.append("second " + Self.describe($0))
      }
      waiters.trigger(second, .done)
    }
    waiters.trigger(first, .done)
    #expect(ended == ["second done"])
    #expect(waiters.count == 0)
  }

  @Test("many expired requests: the queue reclaims its consumed front")
  func manyExpire() {
    let waiters = RequestWaiters()
    var timedOut = 0
    for n in 0..<5000 {
      _ = waiters.register(timeoutMs: 7000, nowMs: UInt64(n)) { _ in timedOut += 1 }
    }
    waiters.expire(nowMs: 7000 + 2999)
    #expect(timedOut == 3000)
    waiters.expire(nowMs: 20000)
    #expect(timedOut == 5000 && waiters.count == 0)
  }
}
