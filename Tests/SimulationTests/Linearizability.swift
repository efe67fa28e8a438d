// Linearizability checking for key-value histories recorded by the simulation tests.
//
// The checker splits the history by key, since a history of independent registers is
// linearizable iff each register's sub-history is (Herlihy & Wing's locality), and runs the
// Wing & Gong search with Lowe's memoization on each key: events sit in a doubly linked
// list in time order, the search linearizes the first call it can, removes the operation
// from the list, and backtracks when it meets a return whose operation was not linearized
// yet. A cache of (set of linearized operations, register value) prunes configurations
// that were already shown to be dead ends.

/// What a client asked for.
enum KVInput: Hashable, Sendable {
  case get(key: String)
  case put(key: String, value: String)
  case delete(key: String)
  /// Writes `new` only if the key holds `expected`; a `nil` expectation means the key is
  /// absent.
  case cas(key: String, expected: String?, new: String)

  var key: String {
    switch self {
    case .get(let key), .put(let key, _), .delete(let key), .cas(let key, _, _):
      return key
    }
  }
}

/// What a client was told.
enum KVOutput: Hashable, Sendable {
  /// The value a `get` observed; `nil` means the key was absent.
  case value(String?)
  /// A `put` or `delete` was acknowledged.
  case written
  /// Whether a `cas` applied its write.
  case swapped(Bool)
}

/// One operation of a history. Operation A happens before operation B iff
/// `A.returned < B.call`; operations whose intervals touch or overlap are concurrent.
struct KVOperation: Hashable, Sendable {
  var client: Int
  var input: KVInput
  /// Required for a completed `get` (`.value`) or `cas` (`.swapped`); a completed `put` or
  /// `delete` may leave it `nil`. Ignored while `returned` is `nil`.
  var output: KVOutput?
  var call: Int64
  /// `nil` when the client never learned the outcome (a timeout, a lost leader): the
  /// operation may take effect at any instant after `call`, or never.
  var returned: Int64?
}

enum LinearizabilityResult: Hashable, Sendable {
  case ok
  /// A human-readable account of the first key found to be non-linearizable.
  case illegal(String)
  /// The time limit ran out before every key was decided.
  case unknown
}

/// Decides whether `history` could have come from a single map that applied each operation
/// atomically at some instant inside its interval. A malformed operation (a completed `get`
/// or `cas` without its kind of output, or a return before its call) is a harness bug and
/// traps.
func checkLinearizable(_ history: [KVOperation], timeLimit: Duration? = nil)
  -> LinearizabilityResult
{
  let clock = ContinuousClock()
  let deadline = timeLimit.map { clock.now.advanced(by: $0) }
  var indicesByKey: [String: [Int]] = [:]
  for (index, operation) in history.enumerated() {
    validate(operation, index: index)
    indicesByKey[operation.input.key, default: []].append(index)
  }
  var timedOut = false
  for (key, indices) in indicesByKey.sorted(by: { $0.key < $1.key }) {
    let register = RegisterHistory(key: key, history: history, indices: indices)
    switch register.search(clock: clock, deadline: deadline) {
    case .linearizable:
      continue
    case .timedOut:
      timedOut = true
    case .stuck(let deadEnd):
      return .illegal(register.explain(deadEnd, history: history))
    }
  }
  return timedOut ? .unknown : .ok
}

private func validate(_ operation: KVOperation, index: Int) {
  guard let returned = operation.returned else { return }
  precondition(returned >= operation.call, "operation #\(index) returned before its call")
  switch (operation.input, operation.output) {
  case (.get, .value?), (.cas, .swapped?), (.put, .written?), (.put, nil), (.delete, .written?),
    (.delete, nil):
    return
  default:
    preconditionFailure(
      "operation #\(index) \(operation.input) has output \(String(describing: operation.output))")
  }
}

/// A register operation with values replaced by small integers, so that model states are
/// cheap to compare and to store in the cache.
private enum RegisterStep {
  case read(Int32)
  case write(Int32)
  case compareAndSwap(expected: Int32, new: Int32, swapped: Bool?)

  /// The register value after the step, or `nil` if the step's recorded output contradicts
  /// `state`.
  func apply(to state: Int32) -> Int32? {
    switch self {
    case .read(let value):
      return value == state ? state : nil
    case .write(let value):
      return value
    case .compareAndSwap(let expected, let new, let swapped):
      let matches = expected == state
      if let swapped, swapped != matches { return nil }
      return matches ? new : state
    }
  }

  /// Whether the step overwrites the register without looking at it.
  var isBlindWrite: Bool {
    if case .write = self { return true }
    return false
  }

  /// Whether the step leaves the register as it found it in every state it can apply to.
  var isReadOnly: Bool {
    switch self {
    case .read:
      return true
    case .write:
      return false
    case .compareAndSwap(let expected, let new, let swapped):
      return swapped == false || expected == new
    }
  }
}

/// A configuration of the search, less which unknown-outcome operations it linearized.
private struct CacheKey: Hashable {
  var fingerprint: UInt64
  var completed: [UInt64]
  var state: Int32
  /// Whether the last operation linearized has an unknown outcome, which narrows what may
  /// go next (see `Search`).
  var afterUnknown: Bool

  func hash(into hasher: inout Hasher) {
    hasher.combine(fingerprint)
    hasher.combine(state)
    hasher.combine(afterUnknown)
  }

  static func == (lhs: CacheKey, rhs: CacheKey) -> Bool {
    lhs.fingerprint == rhs.fingerprint && lhs.state == rhs.state
      && lhs.afterUnknown == rhs.afterUnknown && lhs.completed == rhs.completed
  }
}

/// The deepest point the search reached before it had to backtrack.
private struct DeadEnd {
  /// Operations of the longest linearization found, as indices into the register's
  /// operations, in linearization order.
  var prefix: [Int] = []
  var state: Int32 = 0
  /// Operations called before `blocking` returned, none of which could go next.
  var candidates: [Int] = []
  /// The earliest-returning operation left over; it had to take effect before its return.
  var blocking = 0
  var blockingReturn: Int64 = 0
}

private enum SearchOutcome {
  case linearizable
  case stuck(DeadEnd)
  case timedOut
}

/// Spreads operation indices over 64 bits so that XOR-ing them yields a well-mixed
/// fingerprint of a set of operations that can be updated in O(1).
private func fingerprintBits(_ index: Int) -> UInt64 {
  var z = UInt64(truncatingIfNeeded: index) &+ 0x9E37_79B9_7F4A_7C15
  z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
  z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
  return z ^ (z >> 31)
}

/// Call and return events in time order, kept as a doubly linked list over arrays so that
/// the search can unlink an operation and relink it in O(1) when it backtracks. Node 0 is
/// the head sentinel.
private struct EventList {
  static let end = -1

  var next: [Int]
  var prev: [Int]
  let operation: [Int]
  let isCall: [Bool]
  let callNode: [Int]
  let returnNode: [Int]

  init(calls: [Int64], returns: [Int64?]) {
    let count = calls.count
    // Calls sort before returns at the same instant so that touching intervals count as
    // concurrent; unknown outcomes return after everything, which lets such an operation
    // take effect anywhere after its call, or never.
    var events: [(time: Int64, rank: Int, operation: Int)] = []
    events.reserveCapacity(2 * count)
    for index in 0..<count {
      events.append((calls[index], 0, index))
      if let returned = returns[index] {
        events.append((returned, 1, index))
      } else {
        events.append((Int64.max, 2, index))
      }
    }
    events.sort { ($0.time, $0.rank, $0.operation) < ($1.time, $1.rank, $1.operation) }
    var operation = [-1]
    var isCall = [false]
    var callNode = [Int](repeating: 0, count: count)
    var returnNode = [Int](repeating: 0, count: count)
    operation.reserveCapacity(events.count + 1)
    isCall.reserveCapacity(events.count + 1)
    for (position, event) in events.enumerated() {
      operation.append(event.operation)
      isCall.append(event.rank == 0)
      if event.rank == 0 {
        callNode[event.operation] = position + 1
      } else {
        returnNode[event.operation] = position + 1
      }
    }
    self.operation = operation
    self.isCall = isCall
    self.callNode = callNode
    self.returnNode = returnNode
    next = Array(1..<events.count + 1) + [EventList.end]
    prev = [EventList.end] + Array(0..<events.count)
  }

  mutating func unlink(_ op: Int) {
    remove(callNode[op])
    remove(returnNode[op])
  }

  /// Undoes the matching `unlink`; relinking in the reverse order of removal restores the
  /// neighbours' pointers exactly, which holds because backtracking is last-in first-out.
  mutating func relink(_ op: Int) {
    restore(returnNode[op])
    restore(callNode[op])
  }

  private mutating func remove(_ node: Int) {
    next[prev[node]] = next[node]
    if next[node] != EventList.end { prev[next[node]] = prev[node] }
  }

  private mutating func restore(_ node: Int) {
    if next[node] != EventList.end { prev[next[node]] = node }
    next[prev[node]] = node
  }
}

/// The operations on one key, ready for the search.
private struct RegisterHistory {
  let key: String
  /// Indices into the full history of the operations the search has to place.
  var members: [Int] = []
  var steps: [RegisterStep] = []
  var calls: [Int64] = []
  var returns: [Int64?] = []
  /// Register values by id; id 0 is the absent key.
  var values: [String?] = [nil]
  var valueIDs: [String?: Int32] = [nil: 0]
  var setAside = 0

  init(key: String, history: [KVOperation], indices: [Int]) {
    self.key = key
    // Dropping an unknown-outcome write is sound when nothing could tell that it happened:
    // with no cas on the key and no read of its value, removing it from a linearization
    // leaves every read with the value it saw, since a read in the write's window would
    // have returned the written value (or the write changed nothing). Keeping such writes
    // would make the search try each of them before every later operation.
    let hasCAS = indices.contains { index in
      if case .cas = history[index].input { return true }
      return false
    }
    var observed: Set<String?> = []
    for index in indices where history[index].returned != nil {
      if case .value(let value)? = history[index].output { observed.insert(value) }
    }
    for index in indices {
      let operation = history[index]
      let pending = operation.returned == nil
      let step: RegisterStep
      switch operation.input {
      case .get:
        guard !pending, case .value(let value)? = operation.output else { continue }
        step = .read(intern(value))
      case .put(_, let value):
        if pending && !hasCAS && !observed.contains(value) {
          setAside += 1
          continue
        }
        step = .write(intern(value))
      case .delete:
        if pending && !hasCAS && !observed.contains(nil) {
          setAside += 1
          continue
        }
        step = .write(0)
      case .cas(_, let expected, let new):
        var swapped: Bool?
        if !pending, case .swapped(let outcome)? = operation.output { swapped = outcome }
        step = .compareAndSwap(expected: intern(expected), new: intern(new), swapped: swapped)
      }
      // Nothing can depend on an operation that may not have happened and would not have
      // changed the register if it did.
      if pending && step.isReadOnly { continue }
      members.append(index)
      steps.append(step)
      calls.append(operation.call)
      returns.append(operation.returned)
    }
  }

  private mutating func intern(_ value: String?) -> Int32 {
    if let id = valueIDs[value] { return id }
    let id = Int32(values.count)
    values.append(value)
    valueIDs[value] = id
    return id
  }

  func search(clock: ContinuousClock, deadline: ContinuousClock.Instant?) -> SearchOutcome {
    var search = Search(register: self)
    return search.run(clock: clock, deadline: deadline)
  }

  func explain(_ deadEnd: DeadEnd, history: [KVOperation]) -> String {
    var lines = [
      "not linearizable: key \(String(reflecting: key)), \(members.count) operations checked"
    ]
    if setAside > 0 {
      lines[0] += " (and \(setAside) unknown-outcome writes that nothing observed, set aside)"
    }
    let shown = deadEnd.prefix.suffix(RegisterHistory.prefixLinesShown)
    lines.append(
      "longest linearizable prefix found: \(deadEnd.prefix.count) operations, "
        + "in linearization order with the value after each")
    if shown.count < deadEnd.prefix.count {
      lines.append("  ... \(deadEnd.prefix.count - shown.count) earlier operations omitted")
    }
    var state: Int32 = 0
    for (position, member) in deadEnd.prefix.enumerated() {
      state = steps[member].apply(to: state) ?? state
      if position >= deadEnd.prefix.count - shown.count {
        let operation = describe(members[member], in: history)
        lines.append("  \(position + 1). \(operation)  => \(show(values[Int(state)]))")
      }
    }
    lines.append(
      "with the value at \(show(values[Int(deadEnd.state)])), none of these operations, "
        + "all called before #\(members[deadEnd.blocking]) returned at "
        + "\(deadEnd.blockingReturn), can take effect next without contradicting some output, "
        + "now or later:")
    for candidate in deadEnd.candidates {
      lines.append("  \(describe(members[candidate], in: history))")
    }
    return lines.joined(separator: "\n")
  }

  /// Beyond this many lines the prefix stops helping a reader: the operations that matter
  /// are those next to the dead end.
  private static let prefixLinesShown = 50
}

/// The search over one register's operations. A configuration is the set of operations
/// linearized so far plus the register value they leave; the cache holds every
/// configuration entered, and since the search stops at the first success, every cached
/// configuration that is not on the current path is known to be a dead end.
///
/// Three reductions keep the configurations few when many operations overlap; each keeps
/// at least one linearization whenever any exists:
/// - A completed read-only operation (a read, a failed cas) that can go next goes next,
///   without trying alternatives: in any linearization from here it can be moved to the
///   front, since it changes nothing and nothing still listed happens before it.
/// - An operation with an unknown outcome is never placed where it would change nothing:
///   that configuration can do no more than the current one, which stays under search.
/// - An operation with an unknown outcome is never followed directly by a put or delete:
///   removing it from such a linearization leaves a linearization, since nothing saw the
///   value it wrote. So it only goes in where a read or cas observes it, which keeps the
///   search from trying every unknown-outcome write at every point of the history. The
///   cache records whether a configuration is under this restriction, since a restricted
///   configuration has fewer ways forward.
private struct Search {
  private struct Frame {
    var operation: Int
    var stateBefore: Int32
    var afterUnknownBefore: Bool
    /// A forced read-only placement: its configuration had no alternatives to try.
    var forced: Bool
  }

  private let steps: [RegisterStep]
  private let returns: [Int64?]
  private var list: EventList
  /// Completed and unknown-outcome operations are numbered apart, into `completed` and
  /// `unknown`, so that the cache can compare the unknown-outcome ones as sets.
  private let slot: [Int]
  private var completed: [UInt64]
  private var unknown: [UInt64]
  private var fingerprint: UInt64 = 0
  /// The sets of unknown-outcome operations each configuration was entered with.
  private var cache: [CacheKey: [[UInt64]]] = [:]
  private var stack: [Frame] = []
  private var state: Int32 = 0
  private var afterUnknown = false
  private var deepest = DeadEnd()
  private var deepestDepth = -1

  init(register: RegisterHistory) {
    steps = register.steps
    returns = register.returns
    list = EventList(calls: register.calls, returns: register.returns)
    var counts = (completed: 0, unknown: 0)
    slot = register.returns.map { returned in
      if returned == nil {
        defer { counts.unknown += 1 }
        return counts.unknown
      }
      defer { counts.completed += 1 }
      return counts.completed
    }
    completed = [UInt64](repeating: 0, count: (counts.completed + 63) / 64)
    unknown = [UInt64](repeating: 0, count: (counts.unknown + 63) / 64)
  }

  mutating func run(clock: ContinuousClock, deadline: ContinuousClock.Instant?)
    -> SearchOutcome
  {
    var node = list.next[0]
    // Completed operations are tried before unknown-outcome ones, so that a configuration
    // without some unknown-outcome operation tends to be refuted, and cached, before the
    // configurations it covers are reached.
    var unknownPass = false
    var entered = true
    var iterations = 0
    while true {
      iterations += 1
      if iterations & 1023 == 0, let deadline, clock.now >= deadline { return .timedOut }
      if entered {
        entered = false
        node = list.next[0]
        unknownPass = false
        if let read = forcedRead() {
          if place(read, forced: true) {
            entered = true
            continue
          }
          // This configuration can do no more than one already refuted.
          guard let undone = backtrack() else { return .stuck(deepest) }
          (node, unknownPass) = (list.next[list.callNode[undone]], returns[undone] == nil)
          continue
        }
      }
      if node == EventList.end { return .linearizable }
      let op = list.operation[node]
      if list.isCall[node] {
        // Read-only operations cannot go next here, or forcedRead would have placed one.
        let skip =
          (returns[op] == nil) != unknownPass || steps[op].isReadOnly
          || (afterUnknown && steps[op].isBlindWrite)
        if !skip && place(op, forced: false) {
          entered = true
        } else {
          node = list.next[node]
        }
        continue
      }
      guard let returned = returns[op] else {
        // Only operations with unknown outcomes remain, and they may never take effect.
        return .linearizable
      }
      if !unknownPass {
        unknownPass = true
        node = list.next[0]
        continue
      }
      // Every operation still listed before this return was tried and none could go
      // next, so this configuration is a dead end.
      if stack.count > deepestDepth {
        record(blocking: op, returned: returned, before: node)
      }
      guard let undone = backtrack() else { return .stuck(deepest) }
      (node, unknownPass) = (list.next[list.callNode[undone]], returns[undone] == nil)
    }
  }

  /// A completed read-only operation that can go next, if any.
  private func forcedRead() -> Int? {
    var node = list.next[0]
    while node != EventList.end && list.isCall[node] {
      let op = list.operation[node]
      if steps[op].isReadOnly && steps[op].apply(to: state) != nil { return op }
      node = list.next[node]
    }
    return nil
  }

  /// Linearizes `op` next unless its outputs contradict the register or the resulting
  /// configuration was entered before.
  private mutating func place(_ op: Int, forced: Bool) -> Bool {
    guard let newState = steps[op].apply(to: state) else { return false }
    if returns[op] == nil && newState == state { return false }
    let isUnknown = returns[op] == nil
    flip(op)
    guard enter(state: newState, afterUnknown: isUnknown) else {
      flip(op)
      return false
    }
    stack.append(
      Frame(operation: op, stateBefore: state, afterUnknownBefore: afterUnknown, forced: forced))
    state = newState
    afterUnknown = isUnknown
    list.unlink(op)
    return true
  }

  /// Undoes placements up to and including the latest one that had alternatives, and
  /// returns its operation, or `nil` when none is left.
  private mutating func backtrack() -> Int? {
    while let frame = stack.popLast() {
      state = frame.stateBefore
      afterUnknown = frame.afterUnknownBefore
      flip(frame.operation)
      list.relink(frame.operation)
      if !frame.forced { return frame.operation }
    }
    return nil
  }

  /// Records the configuration just reached unless one that can do everything it can was
  /// entered before: the same completed operations and value, a subset of its
  /// unknown-outcome operations (the rest may take effect never), and no stricter
  /// restriction on what goes next.
  private mutating func enter(state: Int32, afterUnknown: Bool) -> Bool {
    var key = CacheKey(
      fingerprint: fingerprint, completed: completed, state: state, afterUnknown: false)
    if covered(by: cache[key]) { return false }
    if afterUnknown {
      key.afterUnknown = true
      if covered(by: cache[key]) { return false }
    }
    cache[key, default: []].append(unknown)
    return true
  }

  private func covered(by entered: [[UInt64]]?) -> Bool {
    guard let entered else { return false }
    return entered.contains { subset in
      zip(subset, unknown).allSatisfy { $0 & ~$1 == 0 }
    }
  }

  private mutating func flip(_ op: Int) {
    let index = slot[op]
    let bit = UInt64(1) << UInt64(index & 63)
    if returns[op] == nil {
      unknown[index >> 6] ^= bit
    } else {
      completed[index >> 6] ^= bit
      fingerprint ^= fingerprintBits(index)
    }
  }

  private mutating func record(blocking op: Int, returned: Int64, before node: Int) {
    deepestDepth = stack.count
    var candidates: [Int] = []
    var scan = list.next[0]
    while scan != node {
      candidates.append(list.operation[scan])
      scan = list.next[scan]
    }
    deepest = DeadEnd(
      prefix: stack.map(\.operation), state: state, candidates: candidates, blocking: op,
      blockingReturn: returned)
  }
}

private func show(_ value: String?) -> String {
  value.map { String(reflecting: $0) } ?? "nil"
}

private func describe(_ index: Int, in history: [KVOperation]) -> String {
  let operation = history[index]
  let input: String
  switch operation.input {
  case .get(let key):
    input = "get(\(show(key)))"
  case .put(let key, let value):
    input = "put(\(show(key)), \(show(value)))"
  case .delete(let key):
    input = "delete(\(show(key)))"
  case .cas(let key, let expected, let new):
    input = "cas(\(show(key)), \(show(expected)), \(show(new)))"
  }
  let output: String
  switch (operation.returned, operation.output) {
  case (nil, _):
    output = "?"
  case (_, .value(let value)?):
    output = show(value)
  case (_, .swapped(let swapped)?):
    output = swapped ? "swapped" : "not swapped"
  default:
    output = "ok"
  }
  let interval = "[\(operation.call), \(operation.returned.map { String($0) } ?? "pending")]"
  return "#\(index) client \(operation.client) \(input) -> \(output) \(interval)"
}
