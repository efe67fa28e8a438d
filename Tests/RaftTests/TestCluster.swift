import EtcdProto
import Raft

/// A small in-memory cluster for rule tests: every member keeps a
/// `MemoryStorage` as its durable state and honours the Ready contract.
/// Messages are queued and delivered only when a test says so.
final class TestCluster {
  var nodes: [UInt64: RawNode] = [:]
  var storages: [UInt64: MemoryStorage] = [:]
  /// Messages in flight, in send order.
  var inFlight: [Raftpb_Message] = []
  /// Committed entries applied by each member, in order.
  var applied: [UInt64: [Raftpb_Entry]] = [:]
  var readStates: [UInt64: [ReadState]] = [:]
  /// Links that drop everything: (from, to).
  var cut: Set<[UInt64]> = []

  init(
    members: [UInt64], learners: [UInt64] = [],
    configure: (inout RaftConfig) -> Void = { _ in }
  ) {
    for id in members + learners {
      var config = RaftConfig(id: id, randomSeed: id &* 7919)
      configure(&config)
      let storage = MemoryStorage()
      storages[id] = storage
      nodes[id] = RawNode(config: config, storage: storage, peers: members)
      applied[id] = []
      readStates[id] = []
    }
    for learner in learners {
      for id in members + learners {
        var change = Raftpb_ConfChange()
        change.type = .confChangeAddLearnerNode
        change.nodeID = learner
        _ = nodes[id]!.applyConfChange(change)
      }
    }
    settle()
  }

  subscript(id: UInt64) -> RawNode { nodes[id]! }

  /// Processes one member's Ready: send, persist, send acks, apply, advance.
  func process(_ id: UInt64) {
    let node = nodes[id]!
    while node.hasReady {
      let rd = node.ready()
      inFlight.append(contentsOf: rd.messages)
      let storage = storages[id]!
      if let snap = rd.snapshot { storage.applySnapshot(snap) }
      storage.append(rd.entries)
      if let hard = rd.hardState { storage.setHardState(hard) }
      inFlight.append(contentsOf: rd.messagesAfterSync)
      for entry in rd.committedEntries {
        if entry.type == .entryConfChange,
          let change = try? Raftpb_ConfChange(serializedBytes: entry.data)
        {
          _ = node.applyConfChange(change)
        }
        applied[id]!.append(entry)
      }
      readStates[id]!.append(contentsOf: rd.readStates)
      node.advance(rd)
    }
  }

  func processAll() {
    for id in nodes.keys.sorted() { process(id) }
  }

  /// Delivers every queued message (and what they cause) until none is left.
  func settle(maxRounds: Int = 1000) {
    for _ in 0..<maxRounds {
      processAll()
      if inFlight.isEmpty { return }
      let batch = inFlight
      inFlight = []
      for m in batch { deliver(m) }
    }
    preconditionFailure("cluster did not settle in \(maxRounds) rounds")
  }

  func deliver(_ m: Raftpb_Message) {
    guard let node = nodes[m.to], !cut.contains([m.from, m.to]) else { return }
    try? node.step(m)
  }

  func isolate(_ id: UInt64) {
    for other in nodes.keys where other != id {
      cut.insert([id, other])
      cut.insert([other, id])
    }
  }

  func healAll() {
    cut = []
  }

  /// Ticks `id` until it has campaigned, then settles.
  func elect(_ id: UInt64) {
    nodes[id]!.campaign()
    settle()
  }

  func tickAll(_ times: Int = 1) {
    for _ in 0..<times {
      for id in nodes.keys.sorted() { nodes[id]!.tick() }
      settle()
    }
  }

  /// Data of the normal, non-empty entries `id` applied.
  func appliedData(_ id: UInt64) -> [String] {
    applied[id]!.filter { $0.type == .entryNormal && !$0.data.isEmpty }
      .map { String(decoding: $0.data, as: UTF8.self) }
  }
}
