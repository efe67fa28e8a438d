import EtcdProto

/// Linearizable reads without clock leases (§6.4), batched: at most one
/// heartbeat round is in flight, and it confirms leadership for every read that
/// arrived before it started. Reads arriving during a round wait for the next.
struct ReadIndexQueue {
  struct Request {
    var context: [UInt8]
    /// The member that asked: ourselves for a local read.
    var from: UInt64
  }

  struct Round {
    var id: UInt64
    /// Our commit index when the round started; each read in it may be
    /// served once this index is applied.
    var index: UInt64
    var requests: [Request]
    var acks: Set<UInt64>
  }

  /// Reads that arrived before this term had a committed entry: the commit
  /// index is not known to be current until then (§6.4 step 1).
  var beforeFirstCommit: [Request] = []
  var waiting: [Request] = []
  var round: Round?
  private var nextRoundID: UInt64 = 1

  /// What heartbeats carry so their acks count for the round in flight; a
  /// lost round is retried by every later heartbeat.
  var heartbeatContext: [UInt8]? {
    guard let round else { return nil }
    return withUnsafeBytes(of: round.id.bigEndian) { Array($0) }
  }

  mutating func startRound(index: UInt64, leader: UInt64) {
    precondition(round == nil, "a read round is already in flight")
    round = Round(id: nextRoundID, index: index, requests: waiting, acks: [leader])
    nextRoundID += 1
    waiting = []
  }

  static func roundID(_ context: [UInt8]) -> UInt64? {
    guard context.count == 8 else { return nil }
    return context.reduce(0) { $0 << 8 | UInt64($1) }
  }
}

extension Raft {
  func handleReadIndex(_ m: Raftpb_Message) {
    let request = ReadIndexQueue.Request(context: Array(m.context), from: m.from)
    if voters == [id] {
      // No one can have replaced a single voter: the commit index is current.
      answer(request, index: log.committed)
      return
    }
    guard committedInCurrentTerm else {
      readIndex.beforeFirstCommit.append(request)
      return
    }
    readIndex.waiting.append(request)
    if readIndex.round == nil { startReadRound() }
  }

  private var committedInCurrentTerm: Bool { log.term(log.committed) == term }

  private func startReadRound() {
    readIndex.startRound(index: log.committed, leader: id)
    broadcastHeartbeat()
  }

  func releasePendingReadsIfCommittedInTerm() {
    guard committedInCurrentTerm, !readIndex.beforeFirstCommit.isEmpty else { return }
    readIndex.waiting.append(contentsOf: readIndex.beforeFirstCommit)
    readIndex.beforeFirstCommit = []
    if readIndex.round == nil { startReadRound() }
  }

  func acknowledgeReadRound(from member: UInt64, context: [UInt8]) {
    guard var round = readIndex.round, ReadIndexQueue.roundID(context) == round.id,
      isVoter(member)
    else { return }
    round.acks.insert(member)
    readIndex.round = round
    guard round.acks.count >= quorum else { return }
    // A quorum still follows us after the round began: no other leader had
    // committed anything then, so round.index covers every earlier write.
    readIndex.round = nil
    for request in round.requests { answer(request, index: round.index) }
    if !readIndex.waiting.isEmpty { startReadRound() }
  }

  private func answer(_ request: ReadIndexQueue.Request, index: UInt64) {
    if request.from == 0 || request.from == id {
      readStates.append(ReadState(index: index, requestContext: request.context))
    } else {
      var m = Raftpb_Message()
      m.to = request.from
      m.type = .msgReadIndexResp
      m.index = index
      m.context = .init(request.context)
      send(m)
    }
  }
}
