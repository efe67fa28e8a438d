// Linearizability checking for key-value histories recorded by the simulation tests.
//
// The checker splits the history by key, since a history of independent registers is
// linearizable iff each register's sub-history is (Herlihy & Wing's locality), and runs the
// Wing & Gong search with Lowe's memoization on each key: events sit in a doubly linked
// list in time order, the search linearizes the first call it can, removes the operation
// from the list, and backtracks when it meets a return whose operation was not linearized
// yet. A cache of (set of linearized operations, register value) prunes configurations
// that were already shown to be dead ends. On top of that, `Search` narrows where
// operations with unknown outcomes may take effect, since otherwise each of them doubles
// the configurations for the rest of the history.

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
private enum RegisterStep: Hashable {
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

/// Call and return events in time order. Node numbers follow that order, and the nodes of
/// completed operations also form a doubly linked list over arrays, so that the search can
/// unlink an operation and relink it in O(1) when it backtracks. Node 0 is the head
/// sentinel. Unknown-outcome operations have only a call node and stay out of the list:
/// they never return, so they constrain no other operation and are tried from a list of
/// their own.
private struct EventList {
  static let end = -1

  var next: [Int]
  var prev: [Int]
  let operation: [Int]
  let isCall: [Bool]
  let time: [Int64]
  let callNode: [Int]
  let returnNode: [Int]

  init(calls: [Int64], returns: [Int64?]) {
    let count = calls.count
    // Calls sort before returns at the same instant so that touching intervals count as
    // concurrent.
    var events: [(time: Int64, isReturn: Bool, operation: Int)] = []
    events.reserveCapacity(2 * count)
    for index in 0..<count {
      events.append((calls[index], false, index))
      if let returned = returns[index] { events.append((returned, true, index)) }
    }
    events.sort {
      ($0.time, $0.isReturn ? 1 : 0, $0.operation) < ($1.time, $1.isReturn ? 1 : 0, $1.operation)
    }
    operation = [-1] + events.map(\.operation)
    isCall = [false] + events.map { !$0.isReturn }
    time = [0] + events.map(\.time)
    var callNode = [Int](repeating: 0, count: count)
    var returnNode = [Int](repeating: 0, count: count)
    next = [Int](repeating: EventList.end, count: events.count + 1)
    prev = [Int](repeating: EventList.end, count: events.count + 1)
    var last = 0
    for (position, event) in events.enumerated() {
      let node = position + 1
      if event.isReturn {
        returnNode[event.operation] = node
      } else {
        callNode[event.operation] = node
      }
      if returns[event.operation] != nil {
        next[last] = node
        prev[node] = last
        last = node
      }
    }
    self.callNode = callNode
    self.returnNode = returnNode
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
  /// For an unknown-outcome operation, the one with the same step called just before it,
  /// if any (see `Search`).
  var predecessor: [Int?] = []
  var initialState: Int32 = 0
  /// Ids of the values some read returned or some cas expected. Every other value gets id
  /// 0: no operation can tell such values apart, and merging them keeps configurations
  /// that differ only in which of them the register holds from being searched twice.
  private var valueIDs: [String?: Int32] = [:]

  init(key: String, history: [KVOperation], indices: [Int]) {
    self.key = key
    for index in indices {
      switch (history[index].input, history[index].output) {
      case (.get, .value(let value)?) where history[index].returned != nil:
        valueIDs[value] = valueIDs[value] ?? Int32(valueIDs.count + 1)
      case (.cas(_, let expected, _), _):
        valueIDs[expected] = valueIDs[expected] ?? Int32(valueIDs.count + 1)
      default:
        break
      }
    }
    initialState = valueIDs[nil] ?? 0
    for index in indices {
      let operation = history[index]
      let pending = operation.returned == nil
      let step: RegisterStep
      switch operation.input {
      case .get:
        guard !pending, case .value(let value)? = operation.output else { continue }
        step = .read(valueIDs[value] ?? 0)
      case .put(_, let value):
        step = .write(valueIDs[value] ?? 0)
      case .delete:
        step = .write(valueIDs[nil] ?? 0)
      case .cas(_, let expected, let new):
        var swapped: Bool?
        if !pending, case .swapped(let outcome)? = operation.output { swapped = outcome }
        step = .compareAndSwap(
          expected: valueIDs[expected] ?? 0, new: valueIDs[new] ?? 0, swapped: swapped)
      }
      // Nothing can depend on an operation that may not have happened and would not have
      // changed the register if it did.
      if pending && step.isReadOnly { continue }
      members.append(index)
      steps.append(step)
      calls.append(operation.call)
      returns.append(operation.returned)
    }
    var latest: [RegisterStep: Int] = [:]
    predecessor = Array(repeating: nil, count: members.count)
    let unknowns = members.indices.filter { returns[$0] == nil }
    for op in unknowns.sorted(by: { (calls[$0], $0) < (calls[$1], $1) }) {
      predecessor[op] = latest[steps[op]]
      latest[steps[op]] = op
    }
  }

  func search(clock: ContinuousClock, deadline: ContinuousClock.Instant?) -> SearchOutcome {
    var search = Search(register: self)
    return search.run(clock: clock, deadline: deadline)
  }

  func explain(_ deadEnd: DeadEnd, history: [KVOperation]) -> String {
    var lines = [
      "not linearizable: key \(String(reflecting: key)), \(members.count) operations checked"
    ]
    let shown = deadEnd.prefix.suffix(RegisterHistory.prefixLinesShown)
    lines.append(
      "longest linearizable prefix found: \(deadEnd.prefix.count) operations, "
        + "in linearization order with the value after each")
    if shown.count < deadEnd.prefix.count {
      lines.append("  ... \(deadEnd.prefix.count - shown.count) earlier operations omitted")
    }
    // Replaying the actual values rather than the ids shows the values that the search
    // merged.
    var value: String?
    for (position, member) in deadEnd.prefix.enumerated() {
      switch history[members[member]].input {
      case .get:
        break
      case .put(_, let written):
        value = written
      case .delete:
        value = nil
      case .cas(_, let expected, let new):
        if value == expected { value = new }
      }
      if position >= deadEnd.prefix.count - shown.count {
        let operation = describe(members[member], in: history)
        lines.append("  \(position + 1). \(operation)  => \(show(value))")
      }
    }
    lines.append(
      "with the value at \(show(value)), none of these operations, "
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
/// linearized so far plus the register value they leave. The search stops at the first
/// success, so every configuration it entered and left is a dead end; it skips a new
/// configuration when one entered before can do everything it can: the same completed
/// operations and value, a subset of its unknown-outcome operations (the others may take
/// effect never), and no stricter restriction (below) on what goes next.
///
/// The rules below narrow the search, mostly around unknown-outcome operations, which stay
/// candidates to the end of the history and would otherwise multiply the configurations by
/// every subset of them. Each rule keeps at least one linearization whenever any exists:
/// - A completed read-only operation (a read, a failed cas) that can go next goes next,
///   without trying alternatives: in any linearization from here it can be moved to the
///   front, since it changes nothing and nothing still listed happens before it.
/// - An unknown-outcome operation is never placed where it would change nothing: that
///   configuration can do no more than the current one.
/// - An unknown-outcome operation is never followed directly by a put or delete: removing
///   it from such a linearization leaves a linearization, as nothing saw its effect. So it
///   only goes in right before a read or cas that observes it.
/// - Unknown-outcome operations with the same step take effect in the order of their calls:
///   any two of them can trade places in a linearization when the earlier-called one moves
///   earlier.
/// - Completed operations are tried before unknown-outcome ones, so that a configuration
///   without some unknown-outcome operation tends to be entered, and refuted, before the
///   configurations it covers.
private struct Search {
  private struct Frame {
    var operation: Int
    var stateBefore: Int32
    var afterUnknownBefore: Bool
    /// A forced read-only placement: its configuration had no alternatives to try.
    var forced: Bool
    /// The first return still listed when the operation was placed, which bounds the
    /// unknown-outcome operations that could go there.
    var firstReturn: Int
  }

  private let steps: [RegisterStep]
  private let isUnknown: [Bool]
  private let predecessor: [Int?]
  private var list: EventList
  /// Unknown-outcome operations in call order.
  private let unknownByCall: [Int]
  /// Each operation's bit in `completed` or, for an unknown-outcome one, in `unknown`: they
  /// are numbered apart so that the cache can compare the unknown-outcome ones as sets.
  /// An unknown-outcome operation's slot is also its index in `unknownByCall`.
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
    let unknownFlags = register.returns.map { $0 == nil }
    isUnknown = unknownFlags
    predecessor = register.predecessor
    state = register.initialState
    let events = EventList(calls: register.calls, returns: register.returns)
    list = events
    let unknownOps = unknownFlags.indices.filter { unknownFlags[$0] }
    unknownByCall = unknownOps.sorted { events.callNode[$0] < events.callNode[$1] }
    var slot = [Int](repeating: 0, count: steps.count)
    var completedCount = 0
    for op in steps.indices where !unknownFlags[op] {
      slot[op] = completedCount
      completedCount += 1
    }
    for (rank, op) in unknownByCall.enumerated() { slot[op] = rank }
    self.slot = slot
    completed = [UInt64](repeating: 0, count: (completedCount + 63) / 64)
    unknown = [UInt64](repeating: 0, count: (unknownByCall.count + 63) / 64)
  }

  /// Scans the listed calls of completed operations up to the first listed return, then
  /// the unknown-outcome operations called before that return, placing the first that
  /// fits and starting over from the configuration it leads to.
  mutating func run(clock: ContinuousClock, deadline: ContinuousClock.Instant?)
    -> SearchOutcome
  {
    var node = list.next[0]
    var firstReturn = 0
    // Where the scan of unknown-outcome operations is, or nil during the scan of the list.
    var unknownIndex: Int?
    var entered = true
    var iterations = 0
    while true {
      iterations += 1
      if iterations & 1023 == 0, let deadline, clock.now >= deadline { return .timedOut }
      if entered {
        entered = false
        node = list.next[0]
        unknownIndex = nil
        if let read = forcedRead() {
          if place(read, forced: true, firstReturn: 0) {
            entered = true
            continue
          }
          // This configuration can do no more than one already refuted.
          guard let undone = backtrack() else { return .stuck(deepest) }
          (node, firstReturn, unknownIndex) = resumption(after: undone)
          continue
        }
      }
      if let index = unknownIndex {
        if index < unknownByCall.count && list.callNode[unknownByCall[index]] < firstReturn {
          let op = unknownByCall[index]
          if place(op, forced: false, firstReturn: firstReturn) {
            entered = true
          } else {
            unknownIndex = index + 1
          }
          continue
        }
        // Nothing called before the first listed return could go next, so this
        // configuration is a dead end.
        if stack.count > deepestDepth { record(firstReturn: firstReturn) }
        guard let undone = backtrack() else { return .stuck(deepest) }
        (node, firstReturn, unknownIndex) = resumption(after: undone)
        continue
      }
      // Every completed operation is linearized; the rest may never take effect.
      if node == EventList.end { return .linearizable }
      if !list.isCall[node] {
        firstReturn = node
        unknownIndex = 0
        continue
      }
      let op = list.operation[node]
      // Read-only operations cannot go next here, or forcedRead would have placed one.
      if !steps[op].isReadOnly && place(op, forced: false, firstReturn: 0) {
        entered = true
      } else {
        node = list.next[node]
      }
    }
  }

  /// Where the scan goes on after a placement was undone.
  private func resumption(after frame: Frame) -> (node: Int, firstReturn: Int, unknownIndex: Int?) {
    let op = frame.operation
    if isUnknown[op] { return (EventList.end, frame.firstReturn, slot[op] + 1) }
    return (list.next[list.callNode[op]], 0, nil)
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

  /// Linearizes `op` next unless its outputs contradict the register, a rule above rules it
  /// out, or a configuration entered before covers the one it leads to.
  private mutating func place(_ op: Int, forced: Bool, firstReturn: Int) -> Bool {
    guard let newState = steps[op].apply(to: state) else { return false }
    if afterUnknown && steps[op].isBlindWrite { return false }
    if isUnknown[op] {
      if newState == state || isLinearized(op) { return false }
      if let earlier = predecessor[op], !isLinearized(earlier) { return false }
    }
    flip(op)
    guard enter(state: newState, afterUnknown: isUnknown[op]) else {
      flip(op)
      return false
    }
    stack.append(
      Frame(
        operation: op, stateBefore: state, afterUnknownBefore: afterUnknown, forced: forced,
        firstReturn: firstReturn))
    state = newState
    afterUnknown = isUnknown[op]
    if !isUnknown[op] { list.unlink(op) }
    return true
  }

  /// Undoes placements up to and including the latest one that had alternatives, and
  /// returns it, or `nil` when none is left.
  private mutating func backtrack() -> Frame? {
    while let frame = stack.popLast() {
      state = frame.stateBefore
      afterUnknown = frame.afterUnknownBefore
      flip(frame.operation)
      if !isUnknown[frame.operation] { list.relink(frame.operation) }
      if !frame.forced { return frame }
    }
    return nil
  }

  /// Records the configuration just reached, unless one entered before covers it.
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

  private func isLinearized(_ unknownOutcomeOp: Int) -> Bool {
    let index = slot[unknownOutcomeOp]
    return unknown[index >> 6] & (UInt64(1) << UInt64(index & 63)) != 0
  }

  private mutating func flip(_ op: Int) {
    let index = slot[op]
    let bit = UInt64(1) << UInt64(index & 63)
    if isUnknown[op] {
      unknown[index >> 6] ^= bit
    } else {
      completed[index >> 6] ^= bit
      fingerprint ^= fingerprintBits(index)
    }
  }

  private mutating func record(firstReturn: Int) {
    deepestDepth = stack.count
    var candidates: [Int] = []
    var node = list.next[0]
    while node != firstReturn {
      candidates.append(list.operation[node])
      node = list.next[node]
    }
    for op in unknownByCall where list.callNode[op] < firstReturn && !isLinearized(op) {
      candidates.append(op)
    }
    candidates.sort { list.callNode[$0] < list.callNode[$1] }
    deepest = DeadEnd(
      prefix: stack.map(\.operation), candidates: candidates,
      blocking: list.operation[firstReturn], blockingReturn: list.time[firstReturn])
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
