import EtcdProto
import Raft

/// One simulated member: a Raft node, its durable store, the in-memory
/// storage rebuilt from it on restart, and its copy of the state machine.
final class SimNode {
  let id: UInt64
  let peers: [UInt64]
  let durable: DurableStore
  private(set) var raft: RawNode?
  private(set) var storage = MemoryStorage()
  private(set) var kv = SimKV()
  private(set) var appliedIndex: UInt64 = 0
  /// Linearizable reads whose read index is known, waiting to be applied.
  var readsWaiting: [(index: UInt64, context: [UInt8])] = []
  let snapshotEvery: UInt64
  let seed: UInt64
  private var incarnation: UInt64 = 0
  /// Removed from the cluster and stopped for good, as an operator would.
  var removed = false

  init(id: UInt64, peers: [UInt64], durable: DurableStore, snapshotEvery: UInt64, seed: UInt64) {
    self.id = id
    self.peers = peers
    self.durable = durable
    self.snapshotEvery = snapshotEvery
    self.seed = seed
  }

  var isAlive: Bool { raft != nil }

  /// Starts (or restarts) the member from what its durable store holds.
  func start() throws {
    let state = try durable.load()
    storage = MemoryStorage()
    kv = SimKV()
    appliedIndex = 0
    readsWaiting = []
    if let snap = state.snapshot {
      storage.applySnapshot(snap)
      kv = SimKV(decoding: snap.data)
      appliedIndex = snap.metadata.index
    }
    storage.append(state.entries)
    storage.setHardState(state.hardState)
    incarnation += 1
    var config = RaftConfig(id: id, randomSeed: seed &+ id &* 1_000_003 &+ incarnation)
    config.electionTicks = 10
    config.heartbeatTicks = 1
    config.maxInflightMessages = 16
    config.maxEntriesSizePerMessage = 4096
    raft = RawNode(config: config, storage: storage, peers: peers)
  }

  func crash() {
    raft = nil
    readsWaiting = []
    durable.crash()
  }

  /// Everything the simulator observes while a Ready is processed.
  struct Hooks {
    var send: ([Raftpb_Message]) -> Void
    /// Entries made durable, with the term of the entry before the first.
    var persisted: (_ entries: [Raftpb_Entry], _ previousTerm: UInt64?) -> Void
    var applied: (Raftpb_Entry) -> Void
    var completedPut: (_ op: String) -> Void
    var completedRead: (_ context: [UInt8], _ kv: SimKV) -> Void
    /// A forwarded put the leader refused: it will never be applied.
    var droppedPut: (_ op: String) -> Void
    /// Crash between sending a Ready's messages and persisting it.
    var crashBeforePersist: () -> Bool
  }

  /// Processes Readys until none is left: the Ready contract in order.
  func drain(_ hooks: Hooks) throws {
    while let raft, raft.hasReady {
      let rd = raft.ready()
      hooks.send(rd.messages)
      if hooks.crashBeforePersist() {
        crash()
        return
      }
      try durable.persist(hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot)
      if let snap = rd.snapshot {
        storage.applySnapshot(snap)
        kv = SimKV(decoding: snap.data)
        appliedIndex = snap.metadata.index
      }
      if let first = rd.entries.first {
        let previousTerm = try? storage.term(first.index - 1)
        storage.append(rd.entries)
        hooks.persisted(rd.entries, previousTerm)
      }
      if let hard = rd.hardState { storage.setHardState(hard) }
      hooks.send(rd.messagesAfterSync)
      for entry in rd.committedEntries {
        apply(entry, raft: raft, hooks: hooks)
      }
      readsWaiting += rd.readStates.map { ($0.index, $0.requestContext) }
      for dropped in rd.droppedProposals {
        for entry in dropped.entries {
          if let op = SimKV.operationID(entry.data) { hooks.droppedPut(op) }
        }
      }
      raft.advance(rd)
      serveReads(hooks)
      try maybeSnapshot()
    }
  }

  private func apply(_ entry: Raftpb_Entry, raft: RawNode, hooks: Hooks) {
    precondition(
      entry.index == appliedIndex + 1,
      "member \(id) applies \(entry.index) after \(appliedIndex)")
    appliedIndex = entry.index
    hooks.applied(entry)
    switch entry.type {
    case .entryConfChange:
      if let change = try? Raftpb_ConfChange(serializedBytes: entry.data) {
        _ = raft.applyConfChange(change)
      }
    default:
      if let op = kv.apply(entry.data) { hooks.completedPut(op) }
    }
  }

  private func serveReads(_ hooks: Hooks) {
    guard !readsWaiting.isEmpty else { return }
    let ready = readsWaiting.filter { $0.index <= appliedIndex }
    readsWaiting.removeAll { $0.index <= appliedIndex }
    for read in ready { hooks.completedRead(read.context, kv) }
  }

  private func maybeSnapshot() throws {
    guard let raft, appliedIndex >= storage.snapshot.metadata.index + snapshotEvery else { return }
    let snap = try storage.createSnapshot(
      index: appliedIndex, confState: raft.confState, data: kv.encoded())
    try durable.saveSnapshot(snap)
    // Keep a few entries so slightly lagging followers catch up from the log.
    if appliedIndex > 5 { try storage.compact(appliedIndex - 5) }
  }
}
