import Raft

/// A client of the simulated cluster: at most one operation outstanding.
struct SimClient {
  let id: Int
  var pending: Pending?
  var issued = 0

  struct Pending {
    var historyIndex: Int
    var op: String
    var member: UInt64
    var deadline: Int
    var key: String
  }
}

/// The operations clients issued, with logical call and return times, as
/// the linearizability checker reads them.
struct SimHistory {
  var clients: [SimClient] = []
  var operations: [KVOperation] = []
  /// Operations known never to take effect (refused proposals).
  var failed: Set<Int> = []

  mutating func begin(
    client: Int, input: KVInput, op: String, member: UInt64, at now: Int, timeout: Int
  ) {
    operations.append(
      KVOperation(client: client, input: input, output: nil, call: Int64(now), returned: nil))
    clients[client].pending = SimClient.Pending(
      historyIndex: operations.count - 1, op: op, member: member, deadline: now + timeout,
      key: input.key)
  }

  private mutating func finish(op: String, member: UInt64, output: KVOutput, at now: Int) {
    guard
      let c = clients.firstIndex(where: { $0.pending?.op == op && $0.pending?.member == member })
    else { return }
    let index = clients[c].pending!.historyIndex
    operations[index].output = output
    operations[index].returned = Int64(now)
    clients[c].pending = nil
  }

  mutating func completedPut(_ op: String, member: UInt64, at now: Int) {
    finish(op: op, member: member, output: .written, at: now)
  }

  mutating func completedRead(_ context: [UInt8], kv: SimKV, member: UInt64, at now: Int) {
    let op = String(decoding: context, as: UTF8.self)
    guard let client = clients.first(where: { $0.pending?.op == op }) else { return }
    finish(op: op, member: member, output: .value(kv.values[client.pending!.key]), at: now)
  }

  /// A refused proposal never takes effect: it leaves the history, so a
  /// refusal that lied would show up as a read of a value never written.
  mutating func droppedPut(_ op: String, member: UInt64) {
    guard
      let c = clients.firstIndex(where: { $0.pending?.op == op && $0.pending?.member == member })
    else { return }
    failed.insert(clients[c].pending!.historyIndex)
    clients[c].pending = nil
  }

  /// Operations sent to a crashed member have an unknown outcome.
  mutating func memberCrashed(_ member: UInt64) {
    for c in clients.indices where clients[c].pending?.member == member {
      clients[c].pending = nil
    }
  }

  mutating func expire(at now: Int) {
    for c in clients.indices where (clients[c].pending?.deadline ?? .max) < now {
      clients[c].pending = nil
    }
  }

  /// The history for the checker: reads that never returned say nothing.
  var checkable: [KVOperation] {
    operations.indices.filter { !failed.contains($0) }.map { operations[$0] }.filter { op in
      if case .get = op.input { return op.returned != nil }
      return true
    }
  }
}

extension Simulator {
  func clientsAct(issue: Bool) throws {
    history.expire(at: now)
    guard issue else { return }
    for c in history.clients.indices where history.clients[c].pending == nil {
      guard chance(0.1) else { continue }
      let alive = nodes.filter(\.isAlive)
      guard let target = alive.randomElement(using: &rng) else { continue }
      let key = ["a", "b", "c"].randomElement(using: &rng)!
      history.clients[c].issued += 1
      let op = "c\(c)-\(history.clients[c].issued)"
      if chance(0.6) {
        let value = op
        do {
          try target.raft!.propose(SimKV.putCommand(op: op, key: key, value: value))
        } catch {
          continue
        }
        log("client \(c) put \(key)=\(value) via \(target.id)")
        history.begin(
          client: c, input: .put(key: key, value: value), op: op, member: target.id, at: now,
          timeout: config.clientTimeout)
      } else {
        do {
          try target.raft!.readIndex(context: Array(op.utf8))
        } catch {
          continue
        }
        log("client \(c) get \(key) via \(target.id) (\(op))")
        history.begin(
          client: c, input: .get(key: key), op: op, member: target.id, at: now,
          timeout: config.clientTimeout)
      }
      try drain(target)
    }
  }
}
