import EtcdProto
import Raft
import Testing

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A small in-memory cluster for rule tests: every member keeps a
/// `MemoryStorage` as its durable state and honours the Ready contract.
/// Messages are queued and delivered only when a test says so, so every run
/// is the same run.
final class TestCluster {
  /// Running members; a crashed member is absent but keeps its storage.
  var nodes: [UInt64: RawNode] = [:]
  var storages: [UInt64: MemoryStorage] = [:]
  var configs: [UInt64: RaftConfig] = [:]
  /// Messages in flight, in send order.
  var inFlight: [Raftpb_Message] = []
  /// Every message any member emitted, in order, whether delivered or not.
  var sent: [Raftpb_Message] = []
  /// Committed entries each member applied since it last started, in order.
  var applied: [UInt64: [Raftpb_Entry]] = [:]
  /// Each member's state machine: the data of the normal entries applied,
  /// restored from snapshots.
  var state: [UInt64: [String]] = [:]
  var readStates: [UInt64: [ReadState]] = [:]
  /// Links that drop everything: (from, to).
  var cut: Set<[UInt64]> = []
  /// Forwarded proposals each member was told were dropped.
  var dropped: [UInt64: [DroppedProposal]] = [:]
  /// Messages this accepts are lost instead of delivered.
  var drop: (Raftpb_Message) -> Bool = { _ in false }
  /// Messages this accepts are parked in `held`, neither delivered nor lost,
  /// until `release()`.
  var hold: (Raftpb_Message) -> Bool = { _ in false }
  var held: [Raftpb_Message] = []

  init(
    members: [UInt64], learners: [UInt64] = [],
    configure: (inout RaftConfig) -> Void = { _ in }
  ) {
    for id in members + learners {
      var config = RaftConfig(id: id, randomSeed: id &* 7919)
      configure(&config)
      configs[id] = config
      let storage = MemoryStorage()
      storages[id] = storage
      nodes[id] = RawNode(config: config, storage: storage, peers: members)
      applied[id] = []
      state[id] = []
      readStates[id] = []
    }
    // Learners join outside the log here: every member starts knowing them.
    for learner in learners {
      for id in members + learners {
        _ = nodes[id]!.applyConfChange(confChange(.confChangeAddLearnerNode, learner))
      }
    }
    settle()
  }

  subscript(id: UInt64) -> RawNode { nodes[id]! }

  /// Processes one member's Ready: send, persist, send acks, apply, advance.
  func process(_ id: UInt64) {
    guard let node = nodes[id] else { return }
    while node.hasReady {
      handle(id, node.ready())
    }
  }

  /// Carries out one Ready of `id` in the order its contract states.
  func handle(_ id: UInt64, _ rd: Ready) {
    let node = nodes[id]!
    emit(rd.messages)
    let storage = storages[id]!
    if let snap = rd.snapshot { storage.applySnapshot(snap) }
    storage.append(rd.entries)
    if let hard = rd.hardState { storage.setHardState(hard) }
    emit(rd.messagesAfterSync)
    if let snap = rd.snapshot { state[id] = Self.decodeState(snap.data) }
    for entry in rd.committedEntries {
      if entry.type == .entryConfChange,
        let change = try? Raftpb_ConfChange(serializedBytes: entry.data)
      {
        _ = node.applyConfChange(change)
      }
      if entry.type == .entryNormal && !entry.data.isEmpty {
        state[id]!.append(String(decoding: entry.data, as: UTF8.self))
      }
      applied[id]!.append(entry)
    }
    readStates[id]!.append(contentsOf: rd.readStates)
    dropped[id, default: []].append(contentsOf: rd.droppedProposals)
    node.advance(rd)
  }

  private func emit(_ messages: [Raftpb_Message]) {
    inFlight.append(contentsOf: messages)
    sent.append(contentsOf: messages)
  }

  func processAll() {
    for id in nodes.keys.sorted() { process(id) }
  }

  /// Delivers every queued message (and what they cause) until none is left.
  /// A cluster that keeps talking fails the test instead of hanging it.
  func settle(maxRounds: Int = 1000) {
    for _ in 0..<maxRounds {
      processAll()
      if inFlight.isEmpty { return }
      let batch = inFlight
      inFlight = []
      for m in batch { deliver(m) }
    }
    Issue.record("cluster did not settle in \(maxRounds) rounds")
    inFlight = []
  }

  /// Delivers the queued messages `filter` accepts, once, leaving the others
  /// queued; then processes every member.
  func deliver(where filter: (Raftpb_Message) -> Bool) {
    let chosen = inFlight.filter(filter)
    inFlight.removeAll(where: filter)
    for m in chosen { deliver(m) }
    processAll()
  }

  /// Removes and returns the queued messages `filter` accepts.
  func take(where filter: (Raftpb_Message) -> Bool) -> [Raftpb_Message] {
    let chosen = inFlight.filter(filter)
    inFlight.removeAll(where: filter)
    return chosen
  }

  func deliver(_ m: Raftpb_Message) {
    if hold(m) {
      held.append(m)
      return
    }
    let lost = cut.contains([m.from, m.to]) || drop(m)
    guard let node = nodes[m.to], !lost else {
      // The transport tells the leader a snapshot did not arrive.
      if m.type == .msgSnap { nodes[m.from]?.reportSnapshot(to: m.to, succeeded: false) }
      return
    }
    try? node.step(m)
    if m.type == .msgSnap { nodes[m.from]?.reportSnapshot(to: m.to, succeeded: true) }
  }

  /// Queues the held messages again and stops holding.
  func release() {
    hold = { _ in false }
    inFlight.append(contentsOf: held)
    held = []
  }

  func isolate(_ id: UInt64) {
    for other in storages.keys where other != id {
      cut.insert([id, other])
      cut.insert([other, id])
    }
  }

  func healAll() {
    cut = []
  }

  /// Campaigns `id` now, then settles.
  func elect(_ id: UInt64) {
    nodes[id]!.campaign()
    settle()
  }

  /// Ticks every running member `times` times, settling after each round.
  func tickAll(_ times: Int = 1) {
    for _ in 0..<times {
      for id in nodes.keys.sorted() { nodes[id]!.tick() }
      settle()
    }
  }

  /// Ticks one member `times` times, settling after each tick.
  func tick(_ id: UInt64, _ times: Int = 1) {
    for _ in 0..<times {
      nodes[id]!.tick()
      settle()
    }
  }

  func propose(_ id: UInt64, _ data: String) throws(RaftError) {
    try nodes[id]!.propose(Array(data.utf8))
  }

  /// Data of the normal, non-empty entries in `id`'s state machine.
  func appliedData(_ id: UInt64) -> [String] {
    state[id]!
  }

  /// Stops `id`; its storage holds exactly what it made durable.
  func crash(_ id: UInt64) {
    nodes[id] = nil
  }

  /// Starts `id` again from its storage, its state machine from the snapshot.
  func restart(_ id: UInt64) {
    let storage = storages[id]!
    nodes[id] = RawNode(config: configs[id]!, storage: storage)
    applied[id] = []
    state[id] = Self.decodeState(storage.snapshot.data)
    readStates[id] = []
  }

  /// Starts a member with an empty log and no peers: it learns everything from
  /// the leader once a conf change adds it.
  func addNode(_ id: UInt64, configure: (inout RaftConfig) -> Void = { _ in }) {
    var config = RaftConfig(id: id, randomSeed: id &* 7919)
    configure(&config)
    configs[id] = config
    let storage = MemoryStorage()
    storages[id] = storage
    nodes[id] = RawNode(config: config, storage: storage)
    applied[id] = []
    state[id] = []
    readStates[id] = []
  }

  /// Snapshots `id`'s state machine at its applied index and drops the log
  /// before it, as a member does to bound its log (§5.1).
  func compact(_ id: UInt64) throws {
    let node = nodes[id]!
    let index = node.appliedIndex
    let data = Data(state[id]!.joined(separator: "\n").utf8)
    let storage = storages[id]!
    try storage.createSnapshot(index: index, confState: node.confState, data: data)
    try storage.compact(index)
  }

  private static func decodeState(_ data: Data) -> [String] {
    String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
  }

  /// The entries `id` holds durably after its snapshot, as (index, term).
  func log(_ id: UInt64) -> [(UInt64, UInt64)] {
    let storage = storages[id]!
    guard storage.lastIndex >= storage.firstIndex,
      let entries = try? storage.entries(
        storage.firstIndex, storage.lastIndex + 1, maxSize: .max)
    else { return [] }
    return entries.map { ($0.index, $0.term) }
  }

  /// Messages emitted so far of `type`, optionally only those to `to`.
  func sent(_ type: Raftpb_MessageType, to: UInt64? = nil) -> [Raftpb_Message] {
    sent.filter { $0.type == type && (to == nil || $0.to == to) }
  }
}

func confChange(_ type: Raftpb_ConfChangeType, _ member: UInt64) -> Raftpb_ConfChange {
  var change = Raftpb_ConfChange()
  change.type = type
  change.nodeID = member
  return change
}

/// A message as a peer would send it.
func message(
  _ type: Raftpb_MessageType, from: UInt64, to: UInt64, term: UInt64,
  index: UInt64 = 0, logTerm: UInt64 = 0, commit: UInt64 = 0,
  entries: [Raftpb_Entry] = [], reject: Bool = false
) -> Raftpb_Message {
  var m = Raftpb_Message()
  m.type = type
  m.from = from
  m.to = to
  m.term = term
  m.index = index
  m.logTerm = logTerm
  m.commit = commit
  m.entries = entries
  m.reject = reject
  return m
}

func entry(_ index: UInt64, term: UInt64, _ data: String = "") -> Raftpb_Entry {
  var e = Raftpb_Entry()
  e.index = index
  e.term = term
  e.data = Data(data.utf8)
  return e
}
