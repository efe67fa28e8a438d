/// `/v2/stats/leader`: per follower, the latency of the leader's appends
/// and heartbeats (sent until answered, in milliseconds) and how many were
/// answered or failed. Kept by the leader only, reset when it is elected.
struct LeaderStats {
  struct Follower: Equatable {
    var current = 0.0
    var minimum = Double.infinity
    var maximum = 0.0
    var sum = 0.0
    var sumOfSquares = 0.0
    var success: UInt64 = 0
    var fail: UInt64 = 0
    /// When the oldest unanswered message went out.
    var outstandingSince: Int64?

    var average: Double { success == 0 ? 0 : sum / Double(success) }

    var standardDeviation: Double {
      guard success > 0 else { return 0 }
      let mean = average
      return (max(sumOfSquares / Double(success) - mean * mean, 0)).squareRoot()
    }
  }

  private(set) var followers: [UInt64: Follower] = [:]

  mutating func sent(to id: UInt64, at now: Int64) {
    var follower = followers[id] ?? Follower()
    if follower.outstandingSince == nil { follower.outstandingSince = now }
    followers[id] = follower
  }

  mutating func answered(by id: UInt64, at now: Int64) {
    guard let since = followers[id]?.outstandingSince else { return }
    let milliseconds = Double(now - since) / 1e6
    followers[id]!.outstandingSince = nil
    followers[id]!.success += 1
    followers[id]!.current = milliseconds
    followers[id]!.minimum = min(followers[id]!.minimum, milliseconds)
    followers[id]!.maximum = max(followers[id]!.maximum, milliseconds)
    followers[id]!.sum += milliseconds
    followers[id]!.sumOfSquares += milliseconds * milliseconds
  }

  mutating func failed(_ id: UInt64) {
    followers[id, default: Follower()].fail += 1
    followers[id]!.outstandingSince = nil
  }

  func json(leader: UInt64) -> String {
    let entries = followers.sorted { MemberID.format($0.key) < MemberID.format($1.key) }.map {
      id, follower in
      let minimum = follower.success == 0 ? 0 : follower.minimum
      return "\"\(MemberID.format(id))\":{\"latency\":{"
        + "\"current\":\(ServerClock.goFloat(follower.current)),"
        + "\"average\":\(ServerClock.goFloat(follower.average)),"
        + "\"standardDeviation\":\(ServerClock.goFloat(follower.standardDeviation)),"
        + "\"minimum\":\(ServerClock.goFloat(minimum)),"
        + "\"maximum\":\(ServerClock.goFloat(follower.maximum))},"
        + "\"counts\":{\"fail\":\(follower.fail),\"success\":\(follower.success)}}"
    }
    return "{\"leader\":\"\(MemberID.format(leader))\",\"followers\":{"
      + entries.joined(separator: ",") + "}}"
  }
}
