import Net

/// What a client is told when its proposal outlives its time: etcd's
/// words for why, which clients show and retry on (Unavailable "request
/// timed out" variants; Unknown "context deadline exceeded" when no
/// leader ever took it).
extension EtcdServer {
  func installProposalTimeouts() {
    waiters.timeoutResult = { [unowned self] id, startMs in
      .timedOut(proposalTimeout(id: id, startMs: startMs))
    }
  }

  func proposalTimeout(id: UInt64, startMs: UInt64) -> ProposalTimeout {
    if proposalsAwaitingLeader.remove(id) != nil { return .awaitingLeader }
    let base = "etcdserver: request timed out"
    // This member won an election within two election timeouts after the
    // request came: the previous leader most likely failed with it.
    let window = 2 * UInt64(config.electionTimeout)
    if leaderElectedAtMs > 0 && startMs < leaderElectedAtMs
      && startMs + window > leaderElectedAtMs
    {
      return .unapplied(base + ", possibly due to previous leader failure")
    }
    let leader = driver.node.leader
    if leader == 0 { return .unapplied(base) }
    // A peer counts as connected if its stream came up before the request.
    func connected(_ id: UInt64) -> Bool {
      id == memberID || transport.activeSince(id).map { $0 < startMs } == true
    }
    let reachable =
      leader == memberID
      ? members.all.filter { connected($0.id) }.count >= members.all.count / 2 + 1
      : connected(leader)
    return .unapplied(reachable ? base : base + ", possibly due to connection lost")
  }

  /// Answers a v3 call whose proposal `id` is pending when the client's
  /// deadline passes with etcd's timeout error rather than gRPC's.
  func expireAtDeadline(_ call: GRPCServerCall, proposal id: UInt64) {
    guard call.deadlineMs != nil else { return }
    call.onDeadline = { [weak self] in self?.waiters.expire(id) }
  }
}

extension V3Error {
  init(_ timeout: ProposalTimeout) {
    switch timeout {
    case .awaitingLeader: self.init(code: .unknown, message: "context deadline exceeded")
    case .unapplied(let message): self.init(code: .unavailable, message: message)
    }
  }
}
