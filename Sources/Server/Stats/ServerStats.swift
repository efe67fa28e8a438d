/// What `/v2/stats/self` reports beyond the member's name: its state and
/// leader as etcd records them, and the append-request counters and rates
/// (a follower reports what it receives, the leader what it sends).
struct ServerStats {
  private(set) var receivedAppends: UInt64 = 0
  private(set) var sentAppends: UInt64 = 0
  private var received = RateWindow()
  private var sent = RateWindow()
  /// As etcd's, these change only when the member becomes leader or takes
  /// an append from a leader: during an election it reports the state and
  /// leader it had before, never a candidate.
  private(set) var isLeaderState = false
  /// 0 until a leader is known.
  private(set) var leader: UInt64 = 0
  /// Wall-clock nanoseconds; 0 until a leader is known.
  private(set) var leaderSince: Int64 = 0

  mutating func becameLeader(_ id: UInt64, wall: Int64) {
    isLeaderState = true
    leader = id
    leaderSince = wall
  }

  mutating func appendReceived(bytes: Int, from leader: UInt64, at now: Int64, wall: Int64) {
    receivedAppends += 1
    received.record(bytes: bytes, at: now)
    isLeaderState = false
    if leader != self.leader {
      self.leader = leader
      leaderSince = wall
    }
  }

  mutating func appendSent(bytes: Int, at now: Int64) {
    sentAppends += 1
    sent.record(bytes: bytes, at: now)
  }

  /// The counter fields that end etcd's self-stats object; a rate of zero is
  /// left out, as etcd leaves it out.
  func jsonFields(isLeader: Bool, at now: Int64) -> String {
    var fields = "\"recvAppendRequestCnt\":\(receivedAppends)"
    if !isLeader { fields += received.jsonFields(prefix: "recv", at: now) }
    fields += ",\"sendAppendRequestCnt\":\(sentAppends)"
    if isLeader { fields += sent.jsonFields(prefix: "send", at: now) }
    return fields
  }
}

/// Rates over the most recent requests (at most `capacity`), and zero once
/// the newest is more than a second old: a stalled stream reports no rate.
struct RateWindow {
  static let capacity = 200
  private var times: [Int64] = []
  private var sizes: [Int] = []
  private var next = 0

  mutating func record(bytes: Int, at now: Int64) {
    if times.count < Self.capacity {
      times.append(now)
      sizes.append(bytes)
    } else {
      times[next] = now
      sizes[next] = bytes
      next = (next + 1) % Self.capacity
    }
  }

  /// Requests and bytes per second.
  func rates(at now: Int64) -> (packages: Double, bytes: Double) {
    guard let newest = times.max(), let oldest = times.min(), now - newest <= 1_000_000_000
    else { return (0, 0) }
    let seconds = Double(max(now - oldest, 1_000_000)) / 1e9
    return (Double(times.count) / seconds, Double(sizes.reduce(0, +)) / seconds)
  }

  func jsonFields(prefix: String, at now: Int64) -> String {
    let (packages, bytes) = rates(at: now)
    guard packages > 0 else { return "" }
    return ",\"\(prefix)PkgRate\":\(ServerClock.goFloat(packages)),"
      + "\"\(prefix)BandwidthRate\":\(ServerClock.goFloat(bytes))"
  }
}
