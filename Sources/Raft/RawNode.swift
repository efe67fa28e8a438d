import EtcdProto

/// State that changes often and need not be persisted.
public struct SoftState: Sendable, Equatable {
  public var leader: UInt64
  public var role: RaftRole
}

/// Everything a member must do after stepping: the durability contract.
///
/// Process a Ready in this order, then call `advance(_:)`:
/// 1. Send `messages` at once (they promise nothing about local durable state).
/// 2. Make `snapshot`, `entries` and `hardState` durable (WAL append + one
///    fdatasync; snapshot file), and add them to the `MemoryStorage`.
/// 3. Only then send `messagesAfterSync`: they acknowledge votes and entries.
/// 4. Apply the `snapshot` if any, then `committedEntries` in order, and serve
///    `readStates` once their index is applied.
public struct Ready {
  public var softState: SoftState?
  /// Term, vote and commit, when any changed since the last Ready.
  public var hardState: Raftpb_HardState?
  /// Entries to append to durable storage; they may replace a suffix.
  public var entries: [Raftpb_Entry]
  /// A snapshot from the leader to persist and apply, replacing the log.
  public var snapshot: Raftpb_Snapshot?
  /// Entries committed by a quorum, to apply after step 2.
  public var committedEntries: [Raftpb_Entry]
  public var messages: [Raftpb_Message]
  public var messagesAfterSync: [Raftpb_Message]
  public var readStates: [ReadState]
  /// Proposals this member forwarded that the leader refused: never appended,
  /// so their clients can be told at once.
  public var droppedProposals: [DroppedProposal]

  /// Whether there is anything to persist (and so whether step 2 needs a sync).
  public var mustSync: Bool {
    !entries.isEmpty || snapshot != nil
      || hardState.map { $0.term != 0 || $0.vote != 0 } ?? false
  }
}

/// A Raft member driven by its caller: the thread-confined entry point.
public final class RawNode {
  private let raft: Raft
  private var lastSoftState: SoftState
  /// The hard state the caller last made durable.
  private var lastHardState: Raftpb_HardState
  /// The Ready handed out and not yet advanced.
  private var outstanding: Ready?

  /// Starts a member from what `storage` holds (empty for a new member of a
  /// new cluster whose `peers` are the initial voters).
  /// `peerContexts` gives each initial peer's bootstrap entry a context
  /// (swetcd puts the member's peer URLs there, as etcd does).
  public init(
    config: RaftConfig, storage: MemoryStorage, peers: [UInt64] = [],
    peerContexts: [UInt64: [UInt8]] = [:]
  ) {
    raft = Raft(config: config, storage: storage)
    lastSoftState = SoftState(leader: raft.lead, role: raft.role)
    lastHardState = storage.hardState
    if !peers.isEmpty && storage.lastIndex == 0 && storage.hardState.term == 0 {
      bootstrap(peers: peers.sorted(), contexts: peerContexts)
    }
  }

  /// A brand-new cluster starts from a log every initial member agrees on: one
  /// committed AddNode entry per peer in term 1. They reach the caller like any
  /// later membership change (persisted, then applied), which makes the
  /// initial membership durable; Raft adopts it here already so it knows its
  /// peers before the caller applies them.
  private func bootstrap(peers: [UInt64], contexts: [UInt64: [UInt8]]) {
    var entries: [Raftpb_Entry] = []
    for (i, peer) in peers.enumerated() {
      var change = Raftpb_ConfChange()
      change.type = .confChangeAddNode
      change.nodeID = peer
      change.context = .init(contexts[peer] ?? [])
      var entry = Raftpb_Entry()
      entry.type = .entryConfChange
      entry.term = 1
      entry.index = UInt64(i) + 1
      entry.data = (try? change.serializedBytes()) ?? .init()
      entries.append(entry)
    }
    raft.becomeFollower(term: 1, leader: 0)
    raft.log.append(entries)
    raft.log.committed = UInt64(entries.count)
    for peer in peers {
      var change = Raftpb_ConfChange()
      change.type = .confChangeAddNode
      change.nodeID = peer
      _ = raft.applyConfChange(change)
    }
  }

  public var id: UInt64 { raft.id }
  public var term: UInt64 { raft.term }
  public var leader: UInt64 { raft.lead }
  public var role: RaftRole { raft.role }
  public var committedIndex: UInt64 { raft.log.committed }
  public var appliedIndex: UInt64 { raft.log.applied }
  public var lastIndex: UInt64 { raft.log.lastIndex }
  public var confState: Raftpb_ConfState { raft.confState }
  public var hardState: Raftpb_HardState { raft.hardState }

  /// Advances logical time by one tick.
  public func tick() {
    raft.tick()
  }

  /// Starts an election now (tests and `swetcd` start-up of a single member).
  public func campaign() {
    raft.hup(transfer: false)
  }

  /// Feeds a message from a peer. Local message types are refused.
  public func step(_ message: Raftpb_Message) throws(RaftError) {
    switch message.type {
    case .msgHup, .msgBeat, .msgUnreachable, .msgSnapStatus, .msgCheckQuorum:
      return
    default:
      // Answers from members no longer in the cluster are ignored.
      if isResponse(message.type) && raft.progress[message.from] == nil { return }
      try raft.step(message)
    }
  }

  /// Proposes a command to be appended to the log. Throws when the proposal
  /// cannot be taken here; once taken it may still be lost with a leader
  /// change, so callers wait for it to be applied with a timeout.
  public func propose(_ data: [UInt8]) throws(RaftError) {
    var entry = Raftpb_Entry()
    entry.data = .init(data)
    try proposeEntry(entry)
  }

  /// Proposes a membership change. Apply it with `applyConfChange` once it
  /// is committed.
  public func proposeConfChange(_ change: Raftpb_ConfChange) throws(RaftError) {
    var entry = Raftpb_Entry()
    entry.type = .entryConfChange
    entry.data = (try? change.serializedBytes()) ?? .init()
    try proposeEntry(entry)
  }

  private func proposeEntry(_ entry: Raftpb_Entry) throws(RaftError) {
    var m = Raftpb_Message()
    m.type = .msgProp
    m.from = raft.id
    m.entries = [entry]
    try raft.step(m)
  }

  /// Asks for a linearizable read point; it arrives as a `ReadState` with the
  /// same context in a later Ready.
  public func readIndex(context: [UInt8]) throws(RaftError) {
    var m = Raftpb_Message()
    m.type = .msgReadIndex
    m.from = raft.id
    m.context = .init(context)
    try raft.step(m)
  }

  /// Asks the leader to hand leadership to `transferee` (§3.10).
  public func transferLeader(to transferee: UInt64) {
    var m = Raftpb_Message()
    m.type = .msgTransferLeader
    m.from = transferee
    m.term = 0
    try? raft.step(m)
  }

  /// How far `member`'s log is known to match the leader's; nil unless
  /// this node leads and tracks `member`.
  public func match(of member: UInt64) -> UInt64? {
    raft.role == .leader ? raft.progress[member]?.match : nil
  }

  public func applyConfChange(_ change: Raftpb_ConfChange) -> Raftpb_ConfState {
    raft.applyConfChange(change)
  }

  /// A snapshot to `member` was delivered, or failed.
  public func reportSnapshot(to member: UInt64, succeeded: Bool) {
    var m = Raftpb_Message()
    m.type = .msgSnapStatus
    m.from = member
    m.reject = !succeeded
    try? raft.step(m)
  }

  /// `member` could not be reached; the leader stops streaming to it.
  public func reportUnreachable(_ member: UInt64) {
    var m = Raftpb_Message()
    m.type = .msgUnreachable
    m.from = member
    try? raft.step(m)
  }

  public var hasReady: Bool {
    if outstanding != nil { return false }
    return softState != lastSoftState || raft.hardState != lastHardState
      || !raft.log.unstableEntries.isEmpty || raft.log.unstable.snapshot != nil
      || raft.log.hasNextEntries || !raft.messages.isEmpty || !raft.messagesAfterSync.isEmpty
      || !raft.readStates.isEmpty || !raft.droppedProposals.isEmpty
  }

  private var softState: SoftState { SoftState(leader: raft.lead, role: raft.role) }

  /// Takes what is to be persisted, sent and applied. Traps when the previous
  /// Ready was not advanced: its contract is not met yet.
  public func ready() -> Ready {
    precondition(outstanding == nil, "ready() called before advance() of the previous Ready")
    let soft = softState
    let hard = raft.hardState
    var rd = Ready(
      softState: soft != lastSoftState ? soft : nil,
      hardState: hard != lastHardState ? hard : nil,
      entries: raft.log.unstableEntries,
      snapshot: raft.log.unstable.snapshot,
      committedEntries: raft.log.nextEntries,
      messages: raft.messages,
      messagesAfterSync: raft.messagesAfterSync,
      readStates: raft.readStates,
      droppedProposals: raft.droppedProposals)
    if hard.term != lastHardState.term {
      // Even a leader's appends wait while its term is not durable: a member
      // that forgot its term could lead that term again with another log.
      rd.messagesAfterSync = rd.messages + rd.messagesAfterSync
      rd.messages = []
    }
    raft.messages = []
    raft.messagesAfterSync = []
    raft.readStates = []
    raft.droppedProposals = []
    lastSoftState = soft
    outstanding = rd
    return rd
  }

  /// Acknowledges that the Ready was processed in full: persisted, sent and
  /// applied.
  public func advance(_ rd: Ready) {
    precondition(outstanding != nil, "advance() without an outstanding Ready")
    outstanding = nil
    if let hard = rd.hardState { lastHardState = hard }
    if let snap = rd.snapshot {
      raft.log.unstable.stableSnapTo(snap.metadata.index)
      raft.log.appliedTo(snap.metadata.index)
    }
    if let last = rd.entries.last {
      raft.log.unstable.stableTo(index: last.index, term: last.term)
      raft.leaderPersisted(upTo: raft.log.stableIndex)
    }
    if let last = rd.committedEntries.last { raft.log.appliedTo(last.index) }
    // Reads that waited for the first commit of the term may go now.
    raft.releasePendingReadsIfCommittedInTerm()
  }
}

private func isResponse(_ type: Raftpb_MessageType) -> Bool {
  switch type {
  case .msgAppResp, .msgHeartbeatResp, .msgVoteResp, .msgPreVoteResp, .msgReadIndexResp: true
  default: false
  }
}
