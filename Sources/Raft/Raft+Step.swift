import EtcdProto

/// The context of a campaign started by a leadership transfer: voters grant it
/// even while they hear from the current leader.
let campaignTransferContext: [UInt8] = Array("CampaignTransfer".utf8)

extension Raft {
  /// Handles one message: first the term rules every role shares (§3.3), then
  /// the role's own handler.
  func step(_ m: Raftpb_Message) throws(RaftError) {
    do {
      try dispatch(m)
    } catch {
      // A proposal forwarded by another member is refused to that member, so
      // it never waits for an entry that will not exist.
      guard m.type == .msgProp, m.from != 0, m.from != id else { throw error }
      var reply = Raftpb_Message()
      reply.to = m.from
      reply.type = .msgPropDropped
      reply.entries = m.entries
      reply.rejectHint = error.wireCode
      if case .notLeader(let leader) = error { reply.index = leader }
      send(reply)
    }
  }

  private func dispatch(_ m: Raftpb_Message) throws(RaftError) {
    if m.term == 0 {
      // Local requests and forwarded proposals carry no term.
    } else if m.term > term {
      if m.type == .msgVote || m.type == .msgPreVote {
        let force = Array(m.context) == campaignTransferContext
        let inLease = checkQuorum && lead != 0 && electionElapsed < electionTimeout
        // §4.2.3: while a leader is heard from, a vote request is ignored, so a
        // removed or partitioned member cannot disrupt the cluster.
        if !force && inLease { return }
      }
      switch m.type {
      case .msgPreVote:
        // A pre-vote never changes our term.
        break
      case .msgPreVoteResp where !m.reject:
        // The higher term is the one we will campaign in; it arrives with the
        // real vote round.
        break
      default:
        let fromLeader = m.type == .msgApp || m.type == .msgHeartbeat || m.type == .msgSnap
        becomeFollower(term: m.term, leader: fromLeader ? m.from : 0)
      }
    } else if m.term < term {
      if (checkQuorum || preVote) && (m.type == .msgHeartbeat || m.type == .msgApp) {
        // A stale leader cut off from the cluster would otherwise never learn the
        // new term (its appends are ignored), while our pre-votes and lease keep
        // us from raising terms to reach it. The response tells it to step down.
        var reply = Raftpb_Message()
        reply.to = m.from
        reply.type = .msgAppResp
        send(reply)
      } else if m.type == .msgPreVote {
        var reply = Raftpb_Message()
        reply.to = m.from
        reply.type = .msgPreVoteResp
        reply.term = term
        reply.reject = true
        send(reply)
      }
      return
    }

    switch m.type {
    case .msgHup:
      hup(transfer: false)
    case .msgPropDropped:
      droppedProposals.append(
        DroppedProposal(
          entries: m.entries, reason: RaftError(wireCode: m.rejectHint, leader: m.index)))
    case .msgVote, .msgPreVote:
      handleVoteRequest(m)
    default:
      switch role {
      case .leader: try stepLeader(m)
      case .candidate, .preCandidate: try stepCandidate(m)
      case .follower: try stepFollower(m)
      }
    }
  }

  // MARK: elections

  /// Starts an election (or a pre-vote) unless this member may not campaign.
  func hup(transfer: Bool) {
    guard role != .leader, isPromotable else { return }
    // A conf change committed but not applied may remove us or change the
    // quorum: campaigning before applying it could elect under the old config.
    if log.committed > log.applied,
      let pending = try? log.slice(log.applied + 1, log.committed + 1, maxSize: .max),
      pending.contains(where: { $0.type == .entryConfChange })
    {
      return
    }
    if preVote && !transfer {
      campaign(preVote: true, transfer: false)
    } else {
      campaign(preVote: false, transfer: transfer)
    }
  }

  func campaign(preVote isPreVote: Bool, transfer: Bool) {
    let voteTerm: UInt64
    if isPreVote {
      becomePreCandidate()
      voteTerm = term + 1
    } else {
      becomeCandidate()
      voteTerm = term
    }
    if recordVote(from: id, granted: true) == .won {
      // A single-voter cluster: no one else to ask.
      if isPreVote { campaign(preVote: false, transfer: transfer) } else { becomeLeader() }
      return
    }
    for member in voters where member != id {
      var request = Raftpb_Message()
      request.to = member
      request.type = isPreVote ? .msgPreVote : .msgVote
      request.term = voteTerm
      request.index = log.lastIndex
      request.logTerm = log.lastTerm
      if transfer { request.context = .init(campaignTransferContext) }
      send(request)
    }
  }

  enum VoteResult {
    case pending
    case won
    case lost
  }

  func recordVote(from member: UInt64, granted: Bool) -> VoteResult {
    if votes[member] == nil { votes[member] = granted }
    var granted = 0
    var rejected = 0
    for voter in voters {
      switch votes[voter] {
      case true?: granted += 1
      case false?: rejected += 1
      case nil: break
      }
    }
    if granted >= quorum { return .won }
    if rejected >= quorum || voters.count - rejected < quorum { return .lost }
    return .pending
  }

  private func handleVoteRequest(_ m: Raftpb_Message) {
    // §3.6 election restriction plus one vote per term; a pre-vote for a later
    // term may be granted whatever we voted in ours.
    let canVote =
      vote == m.from || (vote == 0 && lead == 0) || (m.type == .msgPreVote && m.term > term)
    var reply = Raftpb_Message()
    reply.to = m.from
    reply.type = m.type == .msgVote ? .msgVoteResp : .msgPreVoteResp
    if canVote && log.isUpToDate(lastIndex: m.index, term: m.logTerm) {
      // The response carries the request's term: a granted pre-vote is for a
      // term we have not entered.
      reply.term = m.term
      if m.type == .msgVote {
        electionElapsed = 0
        vote = m.from
      }
    } else {
      reply.term = term
      reply.reject = true
    }
    send(reply)
  }

  private func stepCandidate(_ m: Raftpb_Message) throws(RaftError) {
    switch m.type {
    case .msgProp:
      throw .noLeader
    case .msgReadIndex:
      throw .noLeader
    case .msgApp:
      becomeFollower(term: m.term, leader: m.from)
      handleAppend(m)
    case .msgHeartbeat:
      becomeFollower(term: m.term, leader: m.from)
      handleHeartbeat(m)
    case .msgSnap:
      becomeFollower(term: m.term, leader: m.from)
      handleSnapshot(m)
    case .msgVoteResp where role == .candidate, .msgPreVoteResp where role == .preCandidate:
      switch recordVote(from: m.from, granted: !m.reject) {
      case .won:
        if role == .preCandidate {
          campaign(preVote: false, transfer: false)
        } else {
          becomeLeader()
        }
      case .lost:
        becomeFollower(term: term, leader: 0)
      case .pending:
        break
      }
    case .msgTimeoutNow:
      // A candidate is already campaigning.
      break
    default:
      break
    }
  }

  private func stepFollower(_ m: Raftpb_Message) throws(RaftError) {
    switch m.type {
    case .msgProp:
      guard lead != 0 else { throw .noLeader }
      if disableProposalForwarding { throw .notLeader(leader: lead) }
      var forward = m
      forward.to = lead
      send(forward)
    case .msgApp:
      electionElapsed = 0
      lead = m.from
      handleAppend(m)
    case .msgHeartbeat:
      electionElapsed = 0
      lead = m.from
      handleHeartbeat(m)
    case .msgSnap:
      electionElapsed = 0
      lead = m.from
      handleSnapshot(m)
    case .msgTransferLeader:
      guard lead != 0 else { return }
      var forward = m
      forward.to = lead
      send(forward)
    case .msgTimeoutNow:
      // §3.10: the leader asks us to campaign at once, skipping pre-vote and
      // overriding the lease of voters.
      hup(transfer: true)
    case .msgReadIndex:
      guard lead != 0 else { throw .noLeader }
      var forward = m
      forward.to = lead
      send(forward)
    case .msgReadIndexResp:
      readStates.append(ReadState(index: m.index, requestContext: Array(m.context)))
    default:
      break
    }
  }

  // MARK: follower side of replication

  func handleAppend(_ m: Raftpb_Message) {
    var reply = Raftpb_Message()
    reply.to = m.from
    reply.type = .msgAppResp
    if m.index < log.committed {
      reply.index = log.committed
      send(reply)
      return
    }
    if let lastNew = log.maybeAppend(
      index: m.index, logTerm: m.logTerm, committed: m.commit, entries: m.entries)
    {
      reply.index = lastNew
    } else {
      // Fast backtracking: point the leader at the last index whose term is at
      // most the term it tried, so one round trip skips a whole stale term.
      let hint = log.findConflictByTerm(min(m.index, log.lastIndex), m.logTerm)
      reply.index = m.index
      reply.reject = true
      reply.rejectHint = hint
      reply.hintTerm = log.term(hint) ?? 0
    }
    send(reply)
  }

  func handleHeartbeat(_ m: Raftpb_Message) {
    // The leader sends min(our match, its commit), so this never passes our log.
    log.commitTo(m.commit)
    var reply = Raftpb_Message()
    reply.to = m.from
    reply.type = .msgHeartbeatResp
    reply.context = m.context
    send(reply)
  }

  func handleSnapshot(_ m: Raftpb_Message) {
    var reply = Raftpb_Message()
    reply.to = m.from
    reply.type = .msgAppResp
    reply.index = restore(m.snapshot) ? log.lastIndex : log.committed
    send(reply)
  }

  /// Installs a leader's snapshot unless our log already holds its last entry.
  private func restore(_ snap: Raftpb_Snapshot) -> Bool {
    let meta = snap.metadata
    if meta.index <= log.committed { return false }
    // A snapshot may predate our own addition to the cluster (a new member
    // is sent the latest snapshot, taken before its AddNode): install it
    // anyway. Its membership lacks us, so we cannot campaign until the entry
    // that adds us is applied from the log that follows.
    if log.matchTerm(meta.index, meta.term) {
      log.commitTo(meta.index)
      return false
    }
    log.restore(snap)
    applyConfState(meta.confState)
    return true
  }
}
