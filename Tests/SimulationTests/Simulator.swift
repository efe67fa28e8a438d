import EtcdProto
import Raft

#if canImport(Glibc)
  import Glibc
#endif

/// The fault profile of one run, drawn from its seed.
struct SimConfig {
  var seed: UInt64
  var members: Int
  var clients = 3
  var steps = 3000
  /// Steps between ticks of one member (each member ticks at its own phase).
  var stepsPerTick = 10
  var maxDelay = 15
  var dropRate = 0.0
  var duplicateRate = 0.0
  var partitionRate = 0.0
  var crashRate = 0.0
  /// Chance per step that the leader proposes a membership change.
  var membershipRate = 0.0
  var useWAL = false
  var snapshotEvery: UInt64 = 25
  /// Steps a client waits for an answer before it gives the operation up.
  var clientTimeout = 400

  /// Draws a fault profile from the seed so every run differs but replays.
  static func random(seed: UInt64, members: Int) -> SimConfig {
    var rng = SplitMix64(seed: seed ^ 0xC0FF_EE00)
    var config = SimConfig(seed: seed, members: members)
    config.dropRate = [0, 0.01, 0.05, 0.15].randomElement(using: &rng)!
    config.duplicateRate = [0, 0.02, 0.1].randomElement(using: &rng)!
    config.partitionRate = members > 1 ? [0, 0.001, 0.004, 0.01].randomElement(using: &rng)! : 0
    config.crashRate = [0, 0.0005, 0.002, 0.006].randomElement(using: &rng)!
    config.maxDelay = [2, 15, 40].randomElement(using: &rng)!
    config.snapshotEvery = [10, 25, 1000].randomElement(using: &rng)!
    config.membershipRate = members >= 3 ? [0, 0, 0.002].randomElement(using: &rng)! : 0
    config.useWAL = seed % 8 == 0
    return config
  }
}

/// A seeded deterministic cluster: a network that drops, delays, duplicates
/// and reorders messages, partitions that heal, members that crash and
/// restart from what they persisted, and clients that write and read
/// throughout. Raft's safety properties are checked after every step; the
/// client history is returned for the linearizability check.
final class Simulator {
  let config: SimConfig
  var rng: SplitMix64
  var nodes: [SimNode] = []
  var now = 0
  var trace: [String]?
  var checker = SafetyChecker()
  var history = SimHistory()

  struct InFlight {
    var message: Raftpb_Message
    var deliverAt: Int
  }
  var network: [InFlight] = []
  /// Cut links (from, to).
  var cut: Set<[UInt64]> = []
  var partitionEndsAt = 0
  /// Off once the faulty phase is over.
  var faultsEnabled = true

  init(config: SimConfig, tracing: Bool = false) throws {
    self.config = config
    rng = SplitMix64(seed: config.seed)
    trace = tracing ? [] : nil
    let ids = (1...UInt64(config.members)).map { $0 }
    for id in ids {
      try addNode(id: id, peers: ids, tracing: tracing)
    }
    history.clients = (0..<config.clients).map { SimClient(id: $0) }
  }

  /// Creates and starts a member: one of the initial `peers`, or (with no
  /// peers) a new one that learns the cluster from its leader.
  func addNode(id: UInt64, peers: [UInt64], tracing: Bool) throws {
    precondition(id == UInt64(nodes.count) + 1, "member IDs are dense: \(id)")
    let durable: DurableStore
    if config.useWAL {
      let dir = "/dev/shm/swetcd-sim-\(getpid())-\(config.seed)-\(tracing)-\(id)"
      durable = try WALDurableStore(directory: dir, memberID: id)
    } else {
      durable = MemoryDurableStore()
    }
    let node = SimNode(
      id: id, peers: peers, durable: durable, snapshotEvery: config.snapshotEvery,
      seed: config.seed)
    try node.start()
    nodes.append(node)
  }

  deinit {
    for node in nodes { node.durable.destroy() }
  }

  func log(_ line: @autoclosure () -> String) {
    if trace != nil { trace!.append("[\(now)] " + line()) }
  }

  func chance(_ p: Double) -> Bool {
    p > 0 && Double(rng.next() % 1_000_000) < p * 1_000_000
  }

  func node(_ id: UInt64) -> SimNode { nodes[Int(id - 1)] }

  // MARK: running

  /// Runs the faulty phase, then heals everything and lets the cluster and
  /// the clients finish. Throws `SimFailure` on any violated property.
  func run() throws {
    for _ in 0..<config.steps {
      try step(faults: true)
    }
    faultsEnabled = false
    healAll()
    var quiet = 0
    for _ in 0..<6000 {
      try step(faults: false, clientsIssue: false)
      if history.clients.allSatisfy({ $0.pending == nil }) && converged() {
        quiet += 1
        if quiet > 200 { break }
      } else {
        quiet = 0
      }
    }
    guard history.clients.allSatisfy({ $0.pending == nil }) && converged() else {
      throw SimFailure(message: "no progress after healing: \(statusLine())")
    }
    let states = currentMembers().map { node($0).kv.values }
    guard states.allSatisfy({ $0 == states[0] }) else {
      throw SimFailure(message: "state machines differ after convergence: \(states)")
    }
  }

  /// What the run did, to see that a seed exercised something.
  var summary: String {
    let done = history.operations.filter { $0.returned != nil }
    let reads = done.filter { if case .get = $0.input { true } else { false } }.count
    return "\(history.operations.count) operations issued, \(done.count - reads) writes and "
      + "\(reads) reads answered, \(checker.leaders.count) terms with a leader, "
      + "\(checker.appliedAt.count) entries applied"
  }

  func statusLine() -> String {
    nodes.map { n in
      guard let raft = n.raft else { return "\(n.id):dead" }
      return "\(n.id):\(raft.role) t\(raft.term) c\(raft.committedIndex) a\(n.appliedIndex)"
    }.joined(separator: " ")
  }

  /// The newest leader that is alive, if any.
  func currentLeader() -> SimNode? {
    nodes.filter { $0.raft?.role == .leader }.max { $0.raft!.term < $1.raft!.term }
  }

  /// Voters and learners as the newest leader sees them.
  func currentMembers() -> [UInt64] {
    guard let conf = currentLeader()?.raft?.confState else { return [] }
    return (conf.voters + conf.learners).sorted()
  }

  private func converged() -> Bool {
    let members = currentMembers().map(node)
    guard !members.isEmpty, members.allSatisfy(\.isAlive) else { return false }
    let applied = members.map(\.appliedIndex)
    let lastIndex = members.map { $0.raft!.lastIndex }
    return applied.allSatisfy { $0 == applied[0] } && lastIndex.allSatisfy { $0 == applied[0] }
  }

  func step(faults: Bool, clientsIssue: Bool = true) throws {
    now += 1
    if faults { injectFaults() } else { healAll() }
    if now >= partitionEndsAt && !cut.isEmpty { healPartition() }
    // Each member ticks at its own phase, as independent clocks would.
    for node in nodes where node.isAlive {
      if (now + Int(node.id) * 3) % config.stepsPerTick == 0 { node.raft!.tick() }
    }
    try deliverDue()
    try clientsAct(issue: clientsIssue)
    for node in nodes { try drain(node) }
    try checker.checkLeaders(nodes, log: { self.log($0) })
  }

  private func deliverDue() throws {
    var due: [InFlight] = []
    network.removeAll { item in
      if item.deliverAt <= now {
        due.append(item)
        return true
      }
      return false
    }
    // Reordering: what is due this step arrives in random order.
    due.shuffle(using: &rng)
    for item in due {
      let m = item.message
      let target = node(m.to)
      guard let raft = target.raft, !cut.contains([m.from, m.to]) else {
        // The transport notices a snapshot it could not stream.
        if m.type == .msgSnap { node(m.from).raft?.reportSnapshot(to: m.to, succeeded: false) }
        continue
      }
      log("deliver \(describe(m))")
      try? raft.step(m)
      if m.type == .msgSnap { node(m.from).raft?.reportSnapshot(to: m.to, succeeded: true) }
      try drain(target)
    }
  }

  func send(_ messages: [Raftpb_Message]) {
    for m in messages {
      if chance(config.dropRate) {
        log("drop \(describe(m))")
        if m.type == .msgSnap { node(m.from).raft?.reportSnapshot(to: m.to, succeeded: false) }
        continue
      }
      // Forwarded proposals are never duplicated: the peer transport (TCP)
      // does not duplicate, and a refusal of one copy would say nothing of
      // the other.
      let copies = m.type != .msgProp && chance(config.duplicateRate) ? 2 : 1
      for _ in 0..<copies {
        let delay = 1 + Int(rng.next() % UInt64(config.maxDelay))
        network.append(InFlight(message: m, deliverAt: now + delay))
      }
    }
  }

  func drain(_ node: SimNode) throws {
    try node.drain(
      SimNode.Hooks(
        send: { self.send($0) },
        persisted: { entries, previousTerm in
          try? self.checker.persisted(entries, previousTerm: previousTerm, member: node.id)
        },
        applied: { entry in
          self.checker.applied(entry, member: node.id)
          self.observeConfChange(entry)
        },
        completedPut: { op in self.history.completedPut(op, member: node.id, at: self.now) },
        completedRead: { context, kv in
          self.history.completedRead(context, kv: kv, member: node.id, at: self.now)
        },
        droppedPut: { op in self.history.droppedPut(op, member: node.id) },
        crashBeforePersist: {
          guard self.faultsEnabled, self.chance(self.config.crashRate * 5) else { return false }
          self.log("crash \(node.id) before persisting its Ready")
          return true
        }))
    try checker.throwIfViolated(log: { self.log($0) })
  }
}

struct SimFailure: Error, CustomStringConvertible {
  var message: String
  var description: String { message }
}

func describe(_ m: Raftpb_Message) -> String {
  var s = "\(m.type) \(m.from)->\(m.to) t\(m.term)"
  switch m.type {
  case .msgApp:
    s += " idx\(m.index) lt\(m.logTerm) n\(m.entries.count) c\(m.commit)"
  case .msgAppResp:
    s += " idx\(m.index)\(m.reject ? " reject hint \(m.rejectHint)/\(m.hintTerm)" : "")"
  case .msgVote, .msgPreVote:
    s += " last \(m.index)/\(m.logTerm)"
  case .msgVoteResp, .msgPreVoteResp:
    s += m.reject ? " reject" : " grant"
  case .msgSnap:
    s += " snap \(m.snapshot.metadata.index)/\(m.snapshot.metadata.term)"
  default:
    break
  }
  return s
}
