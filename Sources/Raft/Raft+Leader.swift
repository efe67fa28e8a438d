import EtcdProto

extension Raft {
  func stepLeader(_ m: Raftpb_Message) throws(RaftError) {
    switch m.type {
    case .msgBeat:
      broadcastHeartbeat()
      return
    case .msgProp:
      try propose(m.entries)
      return
    case .msgReadIndex:
      handleReadIndex(m)
      return
    default:
      break
    }
    // The rest are answers from one member.
    guard progress[m.from] != nil else { return }
    switch m.type {
    case .msgAppResp:
      handleAppendResponse(m)
    case .msgHeartbeatResp:
      handleHeartbeatResponse(m)
    case .msgSnapStatus:
      guard progress[m.from]!.state == .snapshot else { return }
      if m.reject { progress[m.from]!.pendingSnapshot = 0 }
      progress[m.from]!.becomeProbe()
      // Wait for a heartbeat response before probing: the follower may still
      // be applying the snapshot.
      progress[m.from]!.probeSent = true
    case .msgUnreachable:
      if progress[m.from]!.state == .replicate { progress[m.from]!.becomeProbe() }
    case .msgTransferLeader:
      transferLeadership(to: m.from)
    default:
      break
    }
  }

  // MARK: proposals

  private func propose(_ entries: [Raftpb_Entry]) throws(RaftError) {
    guard progress[id] != nil else { throw .notMember }
    if leadTransferee != 0 { throw .leaderTransferring }
    var toAppend = entries
    if let i = toAppend.firstIndex(where: { $0.type == .entryConfChange }) {
      if pendingConfIndex > log.applied { throw .confChangePending }
      precondition(
        toAppend[(i + 1)...].allSatisfy { $0.type != .entryConfChange },
        "one conf change per proposal")
      pendingConfIndex = log.lastIndex + UInt64(i) + 1
    }
    for i in toAppend.indices {
      toAppend[i].term = term
      toAppend[i].index = log.lastIndex + UInt64(i) + 1
    }
    appendEntries(toAppend)
    broadcastAppend()
  }

  /// Appends to our own log. Our own progress does not move until the caller
  /// reports the entries durable (`advance`): only then do they count for a
  /// quorum (§10.2.1).
  func appendEntries(_ entries: [Raftpb_Entry]) {
    log.append(entries)
  }

  /// The caller made our log durable up to `index`.
  func leaderPersisted(upTo index: UInt64) {
    guard role == .leader, progress[id] != nil else { return }
    if progress[id]!.maybeUpdate(index) && maybeCommit() {
      broadcastAppend()
    }
  }

  // MARK: replication

  /// Sends `member` the entries it lacks (or a snapshot). Returns whether a
  /// message was sent.
  @discardableResult
  func sendAppend(to member: UInt64, sendIfEmpty: Bool = true) -> Bool {
    guard var pr = progress[member], member != id, !pr.isPaused else { return false }
    defer { progress[member] = pr }
    var m = Raftpb_Message()
    m.to = member
    let previous = pr.next - 1
    let entries: [Raftpb_Entry]
    if let previousTerm = log.term(previous), let fetched = try? log.entries(from: pr.next) {
      if fetched.isEmpty && !sendIfEmpty { return false }
      entries = fetched
      m.type = .msgApp
      m.index = previous
      m.logTerm = previousTerm
      m.entries = entries
      m.commit = log.committed
    } else {
      // The entries it needs are compacted: send the snapshot instead.
      guard pr.recentActive, let snap = try? log.snapshot() else { return false }
      m.type = .msgSnap
      m.snapshot = snap
      pr.becomeSnapshot(snap.metadata.index)
      send(m)
      return true
    }
    if let last = entries.last {
      switch pr.state {
      case .replicate:
        pr.optimisticUpdate(last.index)
        pr.inflights.add(last.index)
      case .probe:
        pr.probeSent = true
      case .snapshot:
        preconditionFailure("append sent to \(member) in snapshot state")
      }
    }
    send(m)
    return true
  }

  func broadcastAppend() {
    for member in voters + learners where member != id {
      sendAppend(to: member)
    }
  }

  func broadcastHeartbeat() {
    let context = readIndex.heartbeatContext
    for member in voters + learners where member != id {
      var m = Raftpb_Message()
      m.to = member
      m.type = .msgHeartbeat
      // Never past what the follower holds: it commits what we send.
      m.commit = min(progress[member]!.match, log.committed)
      if let context { m.context = .init(context) }
      send(m)
    }
  }

  /// Commits the highest index stored on a quorum of voters, if it is of our
  /// term. Returns whether the commit index moved.
  func maybeCommit() -> Bool {
    var matches = voters.map { progress[$0]!.match }
    guard !matches.isEmpty else { return false }
    matches.sort(by: >)
    // The quorum-th highest match is stored on at least a quorum.
    let quorumIndex = matches[quorum - 1]
    guard log.maybeCommit(quorumIndex, term: term) else { return false }
    releasePendingReadsIfCommittedInTerm()
    return true
  }

  private func handleAppendResponse(_ m: Raftpb_Message) {
    progress[m.from]!.recentActive = true
    if m.reject {
      // A hint term lets us skip every entry of a term the follower lacks.
      var probeIndex = m.rejectHint
      if m.hintTerm > 0 { probeIndex = log.findConflictByTerm(m.rejectHint, m.hintTerm) }
      if progress[m.from]!.maybeDecrease(rejected: m.index, hint: probeIndex) {
        if progress[m.from]!.state == .replicate { progress[m.from]!.becomeProbe() }
        sendAppend(to: m.from)
      }
      return
    }
    let wasPaused = progress[m.from]!.isPaused
    guard progress[m.from]!.maybeUpdate(m.index) else { return }
    switch progress[m.from]!.state {
    case .probe:
      progress[m.from]!.becomeReplicate()
    case .snapshot:
      if progress[m.from]!.match + 1 >= log.firstIndex {
        progress[m.from]!.becomeProbe()
        progress[m.from]!.becomeReplicate()
      }
    case .replicate:
      progress[m.from]!.inflights.free(upTo: m.index)
    }
    if maybeCommit() {
      broadcastAppend()
    } else if wasPaused {
      sendAppend(to: m.from)
    }
    // Stream what is left while the window allows.
    var budget = maxInflight
    while budget > 0 && sendAppend(to: m.from, sendIfEmpty: false) { budget -= 1 }
    if m.from == leadTransferee && progress[m.from]!.match == log.lastIndex {
      sendTimeoutNow(to: m.from)
    }
  }

  private func handleHeartbeatResponse(_ m: Raftpb_Message) {
    progress[m.from]!.recentActive = true
    progress[m.from]!.probeSent = false
    // The follower is alive but the window is full: appends were lost. One
    // free slot lets an append through, whose rejection resets the stream.
    if progress[m.from]!.state == .replicate && progress[m.from]!.inflights.isFull {
      progress[m.from]!.inflights.freeFirst()
    }
    if progress[m.from]!.match < log.lastIndex { sendAppend(to: m.from) }
    if !m.context.isEmpty { acknowledgeReadRound(from: m.from, context: Array(m.context)) }
  }

  // MARK: leadership transfer

  private func transferLeadership(to transferee: UInt64) {
    // §3.10: learners cannot lead; transferring to ourselves is a no-op.
    guard isVoter(transferee), transferee != id else { return }
    if leadTransferee == transferee { return }
    leadTransferee = transferee
    electionElapsed = 0
    if progress[transferee]!.match == log.lastIndex {
      sendTimeoutNow(to: transferee)
    } else {
      sendAppend(to: transferee)
    }
  }

  private func sendTimeoutNow(to member: UInt64) {
    var m = Raftpb_Message()
    m.to = member
    m.type = .msgTimeoutNow
    send(m)
  }
}
