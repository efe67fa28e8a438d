import Testing

@Suite struct LinearizabilityTests {
  // MARK: - Hand-written histories

  @Test func emptyHistoryIsLinearizable() {
    #expect(checkLinearizable([]) == .ok)
  }

  @Test func sequentialHistoryIsLinearizable() {
    let history = [
      Self.get(0, "x", nil, 0, 1),
      Self.put(0, "x", "a", 2, 3),
      Self.get(1, "x", "a", 4, 5),
      Self.delete(1, "x", 6, 7),
      Self.get(0, "x", nil, 8, 9),
    ]
    #expect(checkLinearizable(history) == .ok)
  }

  @Test func staleReadAfterCompletedWriteIsIllegal() throws {
    let history = [
      Self.put(0, "x", "a", 0, 1),
      Self.put(0, "x", "b", 2, 3),
      Self.get(1, "x", "a", 4, 5),
    ]
    let explanation = try #require(Self.explanation(checkLinearizable(history)))
    #expect(explanation.contains(#"key "x""#))
    #expect(explanation.contains(#"#2 client 1 get("x") -> "a" [4, 5]"#))
  }

  @Test func readsObservingConcurrentWritesInOppositeOrdersAreIllegal() {
    let history = [
      Self.put(0, "x", "a", 0, 100),
      Self.put(1, "x", "b", 0, 100),
      Self.get(2, "x", "a", 10, 20),
      Self.get(2, "x", "b", 30, 40),
      Self.get(3, "x", "b", 10, 20),
      Self.get(3, "x", "a", 30, 40),
    ]
    #expect(Self.explanation(checkLinearizable(history)) != nil)
  }

  @Test func readOfValueNeverWrittenIsIllegal() {
    let history = [
      Self.put(0, "x", "a", 0, 10),
      Self.get(1, "x", "z", 0, 10),
    ]
    #expect(Self.explanation(checkLinearizable(history)) != nil)
  }

  @Test(arguments: [nil, "a", "b"])
  func readAfterConcurrentWritesMaySeeEither(value: String?) {
    let history = [
      Self.put(0, "x", "a", 0, 10),
      Self.put(1, "x", "b", 0, 10),
      Self.get(2, "x", value, 5, 15),
    ]
    #expect(checkLinearizable(history) == .ok)
  }

  @Test func readAfterConcurrentWritesCompletedMustSeeOne() {
    let history = [
      Self.put(0, "x", "a", 0, 10),
      Self.put(1, "x", "b", 0, 10),
      Self.get(2, "x", nil, 11, 15),
    ]
    #expect(Self.explanation(checkLinearizable(history)) != nil)
  }

  @Test func touchingIntervalsAreConcurrent() {
    let before = [Self.put(0, "x", "a", 0, 5), Self.get(1, "x", nil, 5, 6)]
    let after = [Self.put(0, "x", "a", 0, 5), Self.get(1, "x", nil, 6, 7)]
    #expect(checkLinearizable(before) == .ok)
    #expect(Self.explanation(checkLinearizable(after)) != nil)
  }

  @Test func pendingPutThatLaterAppearsIsLinearizable() {
    let history = [
      Self.put(0, "x", "a", 0, 1),
      Self.put(1, "x", "b", 2, nil),
      Self.get(2, "x", "a", 3, 4),
      Self.get(2, "x", "b", 50, 51),
      Self.get(2, "x", "b", 60, 61),
    ]
    #expect(checkLinearizable(history) == .ok)
  }

  @Test func pendingPutThatAppearsThenDisappearsIsIllegal() throws {
    let history = [
      Self.put(0, "x", "a", 0, 1),
      Self.put(1, "x", "b", 2, nil),
      Self.get(2, "x", "b", 3, 4),
      Self.get(2, "x", "a", 5, 6),
    ]
    let explanation = try #require(Self.explanation(checkLinearizable(history)))
    #expect(explanation.contains(#"put("x", "b") -> ? [2, pending]"#))
  }

  @Test func pendingPutCannotTakeEffectBeforeItsCall() {
    let history = [
      Self.get(0, "x", "a", 0, 1),
      Self.put(1, "x", "a", 2, nil),
    ]
    #expect(Self.explanation(checkLinearizable(history)) != nil)
  }

  @Test func pendingOperationsMayNeverTakeEffect() {
    let history = [
      Self.put(0, "x", "a", 0, 1),
      Self.put(1, "x", "b", 2, nil),
      Self.delete(3, "x", 2, nil),
      Self.cas(4, "x", "a", "c", nil, 2, nil),
      Self.get(2, "x", "a", 3, 4),
      Self.get(5, "x", nil, 3, nil),
      Self.get(2, "x", "a", 100, 101),
    ]
    #expect(checkLinearizable(history) == .ok)
  }

  @Test func unobservedPendingWritesDoNotSlowTheSearch() {
    var history = [Self.put(0, "x", "a", 0, 1)]
    for client in 1...40 {
      history.append(Self.put(client, "x", "lost\(client)", 2, nil))
    }
    history += [
      Self.put(41, "x", "b", 3, 4),
      Self.get(42, "x", "b", 5, 6),
      Self.get(42, "x", "a", 7, 8),
    ]
    #expect(Self.explanation(checkLinearizable(history, timeLimit: .seconds(5))) != nil)
    history.removeLast()
    #expect(checkLinearizable(history, timeLimit: .seconds(5)) == .ok)
  }

  @Test func casSucceedsOnlyOnMatchingValue() {
    let history = [
      Self.cas(0, "x", nil, "a", true, 0, 1),
      Self.cas(0, "x", nil, "b", false, 2, 3),
      Self.cas(1, "x", "a", "c", true, 4, 5),
      Self.cas(1, "x", "a", "d", false, 6, 7),
      Self.get(2, "x", "c", 8, 9),
    ]
    #expect(checkLinearizable(history) == .ok)
  }

  @Test func casClaimingSuccessOnMismatchIsIllegal() {
    let history = [
      Self.put(0, "x", "a", 0, 1),
      Self.cas(1, "x", "b", "c", true, 2, 3),
    ]
    #expect(Self.explanation(checkLinearizable(history)) != nil)
  }

  @Test func casClaimingFailureOnMatchIsIllegal() {
    let history = [
      Self.put(0, "x", "a", 0, 1),
      Self.cas(1, "x", "a", "c", false, 2, 3),
    ]
    #expect(Self.explanation(checkLinearizable(history)) != nil)
  }

  @Test func twoClientsCannotBothWinTheSameCAS() {
    let history = [
      Self.put(0, "lock", "free", 0, 1),
      Self.cas(1, "lock", "free", "held-by-1", true, 2, 10),
      Self.cas(2, "lock", "free", "held-by-2", true, 2, 10),
    ]
    #expect(Self.explanation(checkLinearizable(history)) != nil)
  }

  @Test func concurrentCASLoserMaySeeEitherOrder() {
    let history = [
      Self.put(0, "lock", "free", 0, 1),
      Self.cas(1, "lock", "free", "held-by-1", true, 2, 10),
      Self.cas(2, "lock", "free", "held-by-2", false, 2, 10),
      Self.get(3, "lock", "held-by-1", 11, 12),
    ]
    #expect(checkLinearizable(history) == .ok)
  }

  @Test func pendingCASCanExplainALaterRead() {
    let history = [
      Self.put(0, "x", "a", 0, 1),
      Self.cas(1, "x", "a", "b", nil, 2, nil),
      Self.get(2, "x", "b", 10, 11),
    ]
    #expect(checkLinearizable(history) == .ok)
  }

  @Test func pendingCASCannotApplyOnMismatch() {
    let history = [
      Self.put(0, "x", "a", 0, 1),
      Self.cas(1, "x", "z", "b", nil, 2, nil),
      Self.get(2, "x", "b", 10, 11),
    ]
    #expect(Self.explanation(checkLinearizable(history)) != nil)
  }

  @Test func keysAreCheckedIndependently() throws {
    let history = [
      Self.put(0, "x", "a", 0, 10),
      Self.put(1, "y", "a", 0, 10),
      Self.get(2, "y", "a", 11, 12),
      Self.get(2, "x", nil, 13, 14),
    ]
    let explanation = try #require(Self.explanation(checkLinearizable(history)))
    #expect(explanation.contains(#"key "x""#))
    #expect(!explanation.contains(#"key "y""#))
  }

  @Test func explanationShowsPrefixAndUnplaceableOperations() throws {
    let history = [
      Self.put(0, "x", "a", 0, 1),
      Self.get(1, "x", "a", 2, 3),
      Self.put(0, "x", "b", 4, 5),
      Self.get(1, "x", "a", 6, 8),
      Self.get(2, "x", "b", 7, 9),
    ]
    let explanation = try #require(Self.explanation(checkLinearizable(history)))
    let expected = """
      not linearizable: key "x", 5 operations checked
      longest linearizable prefix found: 4 operations, in linearization order with the value \
      after each
        1. #0 client 0 put("x", "a") -> ok [0, 1]  => "a"
        2. #1 client 1 get("x") -> "a" [2, 3]  => "a"
        3. #2 client 0 put("x", "b") -> ok [4, 5]  => "b"
        4. #4 client 2 get("x") -> "b" [7, 9]  => "b"
      with the value at "b", none of these operations, all called before #3 returned at 8, \
      can take effect next without contradicting some output, now or later:
        #3 client 1 get("x") -> "a" [6, 8]
      """
    #expect(explanation == expected)
  }

  @Test func malformedOperationTraps() async {
    await #expect(processExitsWith: .failure) {
      let read = KVOperation(
        client: 0, input: .get(key: "x"), output: .written, call: 0, returned: 1)
      _ = checkLinearizable([read])
    }
  }

  @Test func hardHistoryRunsOutOfTime() {
    // Every operation overlaps every other, and the read of a value nobody wrote only turns
    // out to be unplaceable once all else is placed, so the search has to rule out
    // exponentially many orders of the writes.
    var history: [KVOperation] = []
    for client in 0..<40 {
      history.append(Self.put(client, "x", "v\(client)", 0, 1_000))
      history.append(Self.get(client + 40, "x", "v\((client + 1) % 40)", 0, 1_000))
    }
    history.append(Self.get(80, "x", "never", 0, 1_000))
    let clock = ContinuousClock()
    let start = clock.now
    let result = checkLinearizable(history, timeLimit: .milliseconds(100))
    #expect(result == .unknown)
    #expect(clock.now - start < .seconds(5))
  }

  // MARK: - Randomized histories

  @Test(arguments: 0..<300)
  func simulatedExecutionsAreLinearizable(seed: UInt64) {
    var random = SeededRandom(seed: seed)
    let execution = RandomExecution(
      clients: 1 + random.below(6),
      keys: 1 + random.below(4),
      operationsPerClient: 5 + random.below(60),
      uniqueValues: random.percent(50),
      pendingPercent: random.below(15),
      random: &random)
    let result = checkLinearizable(execution.history, timeLimit: .seconds(30))
    #expect(result == .ok, "seed \(seed)")
  }

  @Test(arguments: 0..<300)
  func corruptedReadIsIllegal(seed: UInt64) throws {
    var random = SeededRandom(seed: seed)
    var execution = RandomExecution(
      clients: 2 + random.below(5),
      keys: 1 + random.below(3),
      operationsPerClient: 10 + random.below(50),
      uniqueValues: true,
      pendingPercent: random.below(10),
      random: &random)
    let (index, value) = try #require(execution.impossibleRead(random: &random), "seed \(seed)")
    execution.history[index].output = .value(value)
    let result = checkLinearizable(execution.history, timeLimit: .seconds(30))
    let explanation = try #require(Self.explanation(result), "seed \(seed)")
    #expect(explanation.contains(#"key "\#(execution.history[index].input.key)""#))
  }

  @Test(arguments: 0..<3_000)
  func agreesWithExhaustiveSearchOnSmallHistories(seed: UInt64) {
    var random = SeededRandom(seed: seed)
    var execution = RandomExecution(
      clients: 2 + random.below(2), keys: 1, operationsPerClient: 1 + random.below(3),
      uniqueValues: random.percent(50), pendingPercent: 25, random: &random)
    if random.percent(60) {
      let index = random.below(execution.history.count)
      switch execution.history[index].input {
      case .get:
        let values = [nil, "v0"] + execution.history.compactMap(RandomExecution.writtenValue)
        execution.history[index].output = .value(values[random.below(values.count)])
      case .cas:
        if case .swapped(let swapped)? = execution.history[index].output {
          execution.history[index].output = .swapped(!swapped)
        }
      case .put, .delete:
        execution.history[index].call += Int64(random.below(20))
        if let returned = execution.history[index].returned {
          execution.history[index].returned = max(returned, execution.history[index].call)
        }
      }
    }
    let expected = Self.linearizableByExhaustiveSearch(execution.history)
    let result = checkLinearizable(execution.history)
    #expect((result == .ok) == expected, "seed \(seed): \(execution.history)")
  }

  @Test(arguments: [10, 1])
  func twoThousandOperationsCheckQuickly(keys: Int) {
    var random = SeededRandom(seed: 2_000)
    let execution = RandomExecution(
      clients: 5, keys: keys, operationsPerClient: 400, uniqueValues: false,
      pendingPercent: 3, random: &random)
    let (result, elapsed) = Self.timedCheck(execution.history)
    #expect(result == .ok)
    #expect(elapsed < .seconds(1), "took \(elapsed)")
  }

  /// Refuting a history means exhausting every configuration up to the bad read, which on
  /// one busy key with many unknown outcomes takes about 0.2 s in a release build and
  /// about 3 s in a debug build, where the search runs over ten times slower.
  #if DEBUG
    private static let refutationBudget = Duration.seconds(10)
  #else
    private static let refutationBudget = Duration.seconds(1)
  #endif

  @Test(arguments: [(keys: 10, pendingPercent: 3), (1, 3), (1, 10)])
  func twoThousandOperationsWithACorruptedReadCheckQuickly(keys: Int, pendingPercent: Int)
    throws
  {
    var random = SeededRandom(seed: 2_001)
    var execution = RandomExecution(
      clients: 5, keys: keys, operationsPerClient: 400, uniqueValues: true,
      pendingPercent: pendingPercent, random: &random)
    let (index, value) = try #require(execution.impossibleRead(random: &random))
    execution.history[index].output = .value(value)
    let (result, elapsed) = Self.timedCheck(execution.history)
    #expect(Self.explanation(result) != nil)
    #expect(elapsed < Self.refutationBudget, "took \(elapsed)")
  }

  // MARK: - Helpers

  private static func timedCheck(_ history: [KVOperation]) -> (LinearizabilityResult, Duration) {
    let clock = ContinuousClock()
    let start = clock.now
    let result = checkLinearizable(history, timeLimit: .seconds(10))
    return (result, clock.now - start)
  }

  private static func explanation(_ result: LinearizabilityResult) -> String? {
    if case .illegal(let explanation) = result { return explanation }
    return nil
  }

  /// Tries every order of the operations, as a reference that is slow but obviously
  /// right.
  private static func linearizableByExhaustiveSearch(_ history: [KVOperation]) -> Bool {
    var placed = [Bool](repeating: false, count: history.count)
    var map: [String: String] = [:]
    func canGoNext(_ index: Int) -> Bool {
      !history.indices.contains { other in
        guard !placed[other], let returned = history[other].returned else { return false }
        return returned < history[index].call
      }
    }
    func extend() -> Bool {
      if history.indices.allSatisfy({ placed[$0] || history[$0].returned == nil }) {
        return true
      }
      for index in history.indices where !placed[index] && canGoNext(index) {
        let operation = history[index]
        let key = operation.input.key
        let before = map[key]
        let completed = operation.returned != nil
        switch operation.input {
        case .get:
          if completed && operation.output != .value(before) { continue }
        case .put(_, let value):
          map[key] = value
        case .delete:
          map[key] = nil
        case .cas(_, let expected, let new):
          if completed && operation.output != .swapped(before == expected) { continue }
          if before == expected { map[key] = new }
        }
        placed[index] = true
        if extend() { return true }
        placed[index] = false
        map[key] = before
      }
      return false
    }
    return extend()
  }

  private static func get(
    _ client: Int, _ key: String, _ value: String?, _ call: Int64, _ returned: Int64?
  ) -> KVOperation {
    KVOperation(
      client: client, input: .get(key: key), output: .value(value), call: call,
      returned: returned)
  }

  private static func put(
    _ client: Int, _ key: String, _ value: String, _ call: Int64, _ returned: Int64?
  ) -> KVOperation {
    KVOperation(
      client: client, input: .put(key: key, value: value), output: .written, call: call,
      returned: returned)
  }

  private static func delete(_ client: Int, _ key: String, _ call: Int64, _ returned: Int64?)
    -> KVOperation
  {
    KVOperation(
      client: client, input: .delete(key: key), output: .written, call: call, returned: returned)
  }

  private static func cas(
    _ client: Int, _ key: String, _ expected: String?, _ new: String, _ swapped: Bool?,
    _ call: Int64, _ returned: Int64?
  ) -> KVOperation {
    KVOperation(
      client: client, input: .cas(key: key, expected: expected, new: new),
      output: swapped.map { .swapped($0) }, call: call, returned: returned)
  }
}

/// SplitMix64: a small, fast generator whose sequence depends only on the seed, so that a
/// failing seed reproduces on every machine.
private struct SeededRandom {
  var state: UInt64

  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

  mutating func percent(_ chance: Int) -> Bool { below(100) < chance }
}

/// Clients run operations against one sequential map; each operation takes effect at a
/// random instant inside its interval (or, when its client gave up waiting, possibly
/// never), so the resulting history is linearizable by construction.
private struct RandomExecution {
  var history: [KVOperation] = []
  /// When each operation took effect, `nil` if it never did.
  var effects: [Int64?] = []

  init(
    clients: Int, keys: Int, operationsPerClient: Int, uniqueValues: Bool, pendingPercent: Int,
    random: inout SeededRandom
  ) {
    var writtenByKey: [String: [String]] = [:]
    for client in 0..<clients {
      var now = Int64(random.below(5))
      for sequence in 0..<operationsPerClient {
        let key = "k\(random.below(keys))"
        let fresh = uniqueValues ? "c\(client).\(sequence)" : "v\(random.below(3))"
        let input: KVInput
        switch random.below(100) {
        case 0..<45:
          input = .get(key: key)
        case 45..<75:
          input = .put(key: key, value: fresh)
        case 75..<85:
          input = .delete(key: key)
        default:
          let candidates = writtenByKey[key, default: []]
          let expected =
            random.percent(20) || candidates.isEmpty
            ? nil : candidates[random.below(candidates.count)]
          input = .cas(key: key, expected: expected, new: fresh)
        }
        if case .put(_, let value) = input { writtenByKey[key, default: []].append(value) }
        if case .cas(_, _, let new) = input { writtenByKey[key, default: []].append(new) }
        let duration = Int64(random.below(16))
        let effect = now + Int64(random.below(Int(duration) + 1))
        let gaveUp = random.percent(pendingPercent)
        history.append(
          KVOperation(
            client: client, input: input, call: now, returned: gaveUp ? nil : now + duration))
        if gaveUp {
          // The operation may still take effect long after its client stopped waiting.
          effects.append(random.percent(50) ? nil : now + Int64(random.below(200)))
        } else {
          effects.append(effect)
        }
        now += duration + Int64(random.below(4))
      }
    }
    applyInEffectOrder()
  }

  /// Computes every output by replaying the operations in the order they took effect; ties
  /// fall back to generation order, which keeps each client's own operations in sequence.
  private mutating func applyInEffectOrder() {
    let order = history.indices.filter { effects[$0] != nil }.sorted {
      (effects[$0]!, $0) < (effects[$1]!, $1)
    }
    var map: [String: String] = [:]
    for index in order {
      let output: KVOutput
      switch history[index].input {
      case .get(let key):
        output = .value(map[key])
      case .put(let key, let value):
        map[key] = value
        output = .written
      case .delete(let key):
        map[key] = nil
        output = .written
      case .cas(let key, let expected, let new):
        let matches = map[key] == expected
        if matches { map[key] = new }
        output = .swapped(matches)
      }
      if history[index].returned != nil { history[index].output = output }
    }
  }

  /// A completed read and a value it cannot have returned in any linearization: one
  /// written only by an operation called after the read returned, or one overwritten by a
  /// write that both started after the value's only writer finished and finished before
  /// the read started. Assumes every written value is unique.
  func impossibleRead(random: inout SeededRandom) -> (index: Int, value: String)? {
    let reads = history.indices.filter {
      if case .get = history[$0].input { return history[$0].returned != nil }
      return false
    }
    let start = reads.isEmpty ? 0 : random.below(reads.count)
    for read in reads[start...] + reads[..<start] {
      if let value = impossibleValue(for: read) { return (read, value) }
    }
    return nil
  }

  private func impossibleValue(for read: Int) -> String? {
    let key = history[read].input.key
    guard case .value(let seen)? = history[read].output, let readReturned = history[read].returned
    else { return nil }
    let sameKey = history.indices.filter { history[$0].input.key == key }
    for writer in sameKey {
      guard let value = Self.writtenValue(history[writer]), value != seen else { continue }
      if history[writer].call > readReturned {
        return value
      }
      guard let writerReturned = history[writer].returned, Self.definitelyWrote(history[writer])
      else { continue }
      let overwritten = sameKey.contains { other in
        guard Self.definitelyWrote(history[other]), let otherReturned = history[other].returned
        else { return false }
        return writerReturned < history[other].call && otherReturned < history[read].call
      }
      if overwritten { return value }
    }
    return nil
  }

  static func writtenValue(_ operation: KVOperation) -> String? {
    switch operation.input {
    case .put(_, let value): return value
    case .cas(_, _, let new): return new
    case .get, .delete: return nil
    }
  }

  private static func definitelyWrote(_ operation: KVOperation) -> Bool {
    guard operation.returned != nil else { return false }
    switch (operation.input, operation.output) {
    case (.put, _), (.delete, _), (.cas, .swapped(true)?): return true
    default: return false
    }
  }
}
