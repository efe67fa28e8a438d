import EtcdProto
import Logging
import Net
import Raft
import SwiftProtobuf

extension EtcdServer {
  /// Applies committed entries in log order; the same on every member.
  func apply(_ entries: [Raftpb_Entry]) {
    beginMVCCBatch()
    for entry in entries {
      switch entry.type {
      case .entryConfChange:
        applyConfChange(entry)
      default:
        // An empty entry is a new leader's first: nothing to apply.
        if !entry.data.isEmpty { applyRequest(entry) }
      }
      appliedIndex = entry.index
      appliedTerm = entry.term
      appliedSinceSnapshot += 1
      appliedBytesSinceSnapshot += entry.data.count
    }
    recordAppliedInMVCC(appliedIndex)
    releaseReadsAwaitingApply()
    maybePublish()
    maybeSnapshot()
    // A lone voter need not wait an election timeout to lead; it may
    // campaign once its membership entries are applied, i.e. after this
    // Ready is advanced.
    if driver.node.leader == 0 && driver.node.confState.voters == [memberID] {
      LoopTimer.after(0, on: loop) { [weak self] in
        guard let self, driver.node.leader == 0 else { return }
        driver.node.campaign()
        driver.pump()
      }
    }
  }

  private func applyRequest(_ entry: Raftpb_Entry) {
    guard
      let request = try? Swetcdpb_InternalRequest(
        serializedBytes: entry.data, options: requestDecodingOptions)
    else {
      logger.error("skipped an undecodable log entry", metadata: ["index": "\(entry.index)"])
      return
    }
    switch request.request {
    case .publish(let attributes):
      // Only this start's own publish counts: etcd publishes on every
      // start, and one replayed from an earlier start must not stand in.
      let isThisStarts = attributes.memberID == memberID && waiters.isWaiting(request.id)
      members.publish(attributes.memberID, name: attributes.name, clientURLs: attributes.clientUrls)
      recordPublishInV2Store(attributes, time: request.time)
      waiters.trigger(request.id, .done)
      if isThisStarts && !published {
        published = true
        let held = awaitingPublish
        awaitingPublish = []
        for request in held { request() }
      }
    case .v2(let v2):
      applyV2(v2, id: request.id, time: request.time, entry: entry)
    case .put, .deleteRange, .txn, .compaction, .leaseGrant, .leaseRevoke, .alarm:
      applyV3(request, entry: entry)
    case nil:
      waiters.trigger(request.id, .failed("empty request"))
    }
  }

  private func applyConfChange(_ entry: Raftpb_Entry) {
    guard var change = try? Raftpb_ConfChange(serializedBytes: entry.data) else {
      logger.error("skipped an undecodable conf change", metadata: ["index": "\(entry.index)"])
      return
    }
    let context = try? Swetcdpb_MemberContext(serializedBytes: change.context)
    readMembersForValidation()
    var outcome = ApplyResult.done
    do throws(MembershipError) {
      switch change.type {
      case .confChangeAddNode, .confChangeAddLearnerNode:
        let learner = change.type == .confChangeAddLearnerNode
        if let existing = members[change.nodeID] {
          // Bootstrap entries replay over the initial membership, and
          // AddNode on a learner promotes it.
          if existing.isLearner && !learner { try members.promote(change.nodeID) }
        } else {
          let member = Member(
            id: change.nodeID, name: "", peerURLs: context?.peerUrls.sorted() ?? [],
            isLearner: learner)
          try members.add(member)
          if change.nodeID != memberID { updatePeer(member) }
        }
        // Whether the member was known from the flags or not, every member
        // makes the same v2 write here, so v2 indexes agree everywhere.
        if let member = members[change.nodeID] { recordMemberInV2Store(member) }
      case .confChangeRemoveNode:
        try members.remove(change.nodeID)
        transport.removePeer(change.nodeID)
        recordRemovalInV2Store(change.nodeID)
      case .confChangeUpdateNode:
        try members.updatePeerURLs(change.nodeID, context?.peerUrls ?? [])
        if let member = members[change.nodeID] {
          if change.nodeID != memberID { updatePeer(member) }
          recordMemberInV2Store(member)
        }
      case .UNRECOGNIZED:
        break
      }
    } catch {
      outcome = .refused(error)
      // A refused change must not change Raft's membership either; an
      // update is the change that leaves it as it is.
      change.type = .confChangeUpdateNode
    }
    _ = driver.node.applyConfChange(change)
    waiters.trigger(change.id, outcome)
    if case .done = outcome, change.type == .confChangeRemoveNode, change.nodeID == memberID {
      logger.warning("the member has been permanently removed from the cluster")
      stop { [loop] in loop.stop() }
    }
  }

  /// After a batch is applied, or once a leader is known: a started member
  /// publishes its name and client URLs once per start, as etcd does. (A
  /// follower restarted in an idle cluster applies nothing new; it learns
  /// of the leader from its heartbeats.)
  private func maybePublish() {
    guard !published, isLeader || leaderID != 0, !publishInFlight else { return }
    publishInFlight = true
    var attributes = Swetcdpb_MemberAttributes()
    attributes.memberID = memberID
    attributes.name = config.name
    attributes.clientUrls = config.advertiseClientURLs.map(\.description)
    var request = Swetcdpb_InternalRequest()
    request.publish = attributes
    propose(request, timeoutMs: 5000) { [weak self] _ in self?.publishInFlight = false }
  }

  /// Proposes `request` with a fresh ID, which it returns; `completion`
  /// gets the apply result, or a failure if it was refused, dropped or
  /// timed out.
  @discardableResult
  func propose(
    _ request: Swetcdpb_InternalRequest, timeoutMs: UInt64,
    completion: @escaping (ApplyResult) -> Void
  ) -> UInt64 {
    var request = request
    if request.time == 0 { request.time = ServerClock.wallNanoseconds() }
    let id = waiters.register(timeoutMs: timeoutMs, nowMs: loop.nowMs, completion)
    request.id = id
    let data = (try? request.serializedBytes()) ?? []
    submit(id) { [unowned self] () throws(RaftError) in try driver.propose(data) }
    return id
  }

  /// Hands the proposal of waiter `id` to Raft with `send`. As in etcd, one
  /// made while no leader is known waits for one (until its timeout)
  /// rather than failing at once; a refusal fails the waiter.
  func submit(_ id: UInt64, _ send: @escaping () throws(RaftError) -> Void) {
    let attempt = { [weak self] in
      guard let self else { return }
      proposalsAwaitingLeader.remove(id)
      guard waiters.isWaiting(id) else { return }
      do throws(RaftError) {
        try send()
      } catch {
        waiters.trigger(id, .failed(Self.message(for: error)))
      }
    }
    if driver.node.leader == 0 {
      proposalsAwaitingLeader.insert(id)
      waitingForLeader.append(attempt)
    } else {
      attempt()
    }
  }

  static func message(for error: RaftError) -> String {
    switch error {
    case .noLeader: "etcdserver: no leader"
    case .leaderTransferring: "etcdserver: leader changed"
    case .notLeader: "etcdserver: not leader"
    case .confChangePending: "etcdserver: unhealthy cluster"
    case .notMember: "etcdserver: server stopped"
    }
  }

  func proposalsDropped(_ dropped: [DroppedProposal]) {
    for proposal in dropped {
      for entry in proposal.entries {
        guard
          let request = try? Swetcdpb_InternalRequest(
            serializedBytes: entry.data, options: requestDecodingOptions)
        else {
          continue
        }
        waiters.trigger(request.id, .failed(Self.message(for: proposal.reason)))
      }
    }
  }

  func roleChanged(_ soft: SoftState) {
    if soft.leader != 0 && soft.leader != lastSeenLeader { leaderChangesSeen += 1 }
    if soft.leader != 0 { lastSeenLeader = soft.leader }
    if soft.role == .leader {
      leaderElectedAtMs = loop.nowMs
      serverStats.becameLeader(memberID, wall: ServerClock.wallNanoseconds())
      leaderStats = LeaderStats()
      lessor.promote(
        now: ServerClock.monotonicNanoseconds(), extend: Int64(config.electionTimeout) * 1_000_000)
    }
    if soft.leader != 0 {
      let ready = waitingForLeader
      waitingForLeader = []
      // After this Ready: proposing inside it would be taken by the next one.
      LoopTimer.after(0, on: loop) { [weak self] in
        for proposal in ready { proposal() }
        self?.maybePublish()
      }
    }
    logger.info(
      "raft state changed",
      metadata: [
        "role": "\(soft.role)", "leader": "\(MemberID.format(soft.leader))",
        "term": "\(driver.node.term)",
      ])
  }
}
