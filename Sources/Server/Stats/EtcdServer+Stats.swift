import EtcdProto

/// Feeds the v2 stats from the raft messages passing through the member.
extension EtcdServer {
  func recordSent(_ messages: [Raftpb_Message]) {
    guard isLeader else { return }
    let now = ServerClock.monotonicNanoseconds()
    for message in messages {
      switch message.type {
      case .msgApp:
        serverStats.appendSent(bytes: Self.payloadSize(message), at: now)
        leaderStats.sent(to: message.to, at: now)
      case .msgHeartbeat:
        leaderStats.sent(to: message.to, at: now)
      default:
        break
      }
    }
  }

  func recordReceived(_ message: Raftpb_Message) {
    switch message.type {
    case .msgApp:
      serverStats.appendReceived(
        bytes: Self.payloadSize(message), from: message.from,
        at: ServerClock.monotonicNanoseconds(), wall: ServerClock.wallNanoseconds())
    case .msgAppResp,
      .msgHeartbeatResp where isLeader:
      leaderStats.answered(by: message.from, at: ServerClock.monotonicNanoseconds())
    default:
      break
    }
  }

  /// The entry bytes an append carries: a cheap stand-in for its encoded
  /// size, which would cost a second encoding.
  private static func payloadSize(_ message: Raftpb_Message) -> Int {
    message.entries.reduce(0) { $0 + $1.data.count }
  }
}
