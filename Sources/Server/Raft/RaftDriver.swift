import EtcdProto
import Raft
import Storage

/// Runs one member's Ready cycle on the loop thread, with the WAL on another.
///
/// At most one Ready is at the disk at a time. While it syncs, proposals and
/// messages keep arriving and accumulate in Raft's unstable log; the next
/// Ready takes all of them, so one fdatasync covers every write that arrived
/// during the previous one: group commit without timers. The Ready contract
/// (`Raft.Ready`) is followed line by line in `pump` and `persisted`.
public final class RaftDriver {
  public let node: RawNode
  public let raftStorage: MemoryStorage

  /// Hands a Ready's durable part to the disk; `completion` runs on the loop
  /// thread once it is synced, with the error that poisoned the WAL if any.
  public typealias Persist = (
    _ hardState: Raftpb_HardState?, _ entries: [Raftpb_Entry], _ snapshot: Raftpb_Snapshot?,
    _ completion: @escaping (Error?) -> Void
  ) -> Void

  public struct Callbacks {
    /// Raft messages to put on the peer transport.
    public var send: ([Raftpb_Message]) -> Void
    /// A leader's snapshot to install before the entries after it.
    public var applySnapshot: (Raftpb_Snapshot) -> Void
    /// Committed entries, in log order; the caller applies them.
    public var apply: ([Raftpb_Entry]) -> Void
    public var readStates: ([ReadState]) -> Void
    public var droppedProposals: ([DroppedProposal]) -> Void
    public var softState: (SoftState) -> Void
    /// The WAL failed: the member must stop, it can no longer promise
    /// durability.
    public var fatal: (Error) -> Void

    public init(
      send: @escaping ([Raftpb_Message]) -> Void,
      applySnapshot: @escaping (Raftpb_Snapshot) -> Void,
      apply: @escaping ([Raftpb_Entry]) -> Void,
      readStates: @escaping ([ReadState]) -> Void = { _ in },
      droppedProposals: @escaping ([DroppedProposal]) -> Void = { _ in },
      softState: @escaping (SoftState) -> Void = { _ in },
      fatal: @escaping (Error) -> Void
    ) {
      self.send = send
      self.applySnapshot = applySnapshot
      self.apply = apply
      self.readStates = readStates
      self.droppedProposals = droppedProposals
      self.softState = softState
      self.fatal = fatal
    }
  }

  private let persist: Persist
  private let callbacks: Callbacks
  private var atDisk = false
  private var failed = false

  public init(
    node: RawNode, raftStorage: MemoryStorage, persist: @escaping Persist, callbacks: Callbacks
  ) {
    self.node = node
    self.raftStorage = raftStorage
    self.persist = persist
    self.callbacks = callbacks
  }

  /// Takes the next Ready if the disk is free. Call after anything that may
  /// have given Raft work: a tick, a message, a proposal, a read.
  public func pump() {
    guard !atDisk, !failed, node.hasReady else { return }
    let rd = node.ready()
    if let soft = rd.softState { callbacks.softState(soft) }
    // Step 1: these promise nothing about our disk (thesis §10.2.1).
    callbacks.send(rd.messages)
    guard rd.mustSync || rd.snapshot != nil else {
      persisted(rd, error: nil)
      return
    }
    atDisk = true
    // Step 2 happens on the disk thread.
    persist(rd.hardState, rd.entries, rd.snapshot) { [self] error in
      atDisk = false
      persisted(rd, error: error)
    }
  }

  private func persisted(_ rd: Ready, error: Error?) {
    if let error {
      failed = true
      callbacks.fatal(error)
      return
    }
    // Raft reads its log from here; it now holds exactly what is durable.
    if let snap = rd.snapshot { raftStorage.applySnapshot(snap) }
    raftStorage.append(rd.entries)
    if let hard = rd.hardState { raftStorage.setHardState(hard) }
    // Step 3: votes and acks may now promise what is on disk.
    callbacks.send(rd.messagesAfterSync)
    // Step 4: apply.
    if let snap = rd.snapshot { callbacks.applySnapshot(snap) }
    if !rd.committedEntries.isEmpty { callbacks.apply(rd.committedEntries) }
    if !rd.readStates.isEmpty { callbacks.readStates(rd.readStates) }
    if !rd.droppedProposals.isEmpty { callbacks.droppedProposals(rd.droppedProposals) }
    node.advance(rd)
    pump()
  }

  public func tick() {
    node.tick()
    pump()
  }

  public func step(_ message: Raftpb_Message) {
    try? node.step(message)
    pump()
  }

  public func propose(_ data: [UInt8]) throws(RaftError) {
    try node.propose(data)
    pump()
  }

  public func proposeConfChange(_ change: Raftpb_ConfChange) throws(RaftError) {
    try node.proposeConfChange(change)
    pump()
  }

  public func readIndex(context: [UInt8]) throws(RaftError) {
    try node.readIndex(context: context)
    pump()
  }
}
