/// How the leader currently replicates to one follower.
public enum ProgressState: Sendable, Equatable {
  /// One append at a time until the follower's match index is found.
  case probe
  /// Appends stream optimistically, bounded by the in-flight window.
  case replicate
  /// A snapshot is on its way; nothing else is sent until it is reported.
  case snapshot
}

/// A ring of the last indexes of appends sent but not yet acknowledged,
/// bounding how far the leader runs ahead of a follower.
struct Inflights {
  private var buffer: [UInt64] = []
  private var start = 0
  private(set) var count = 0
  let capacity: Int

  init(capacity: Int) {
    self.capacity = capacity
  }

  var isFull: Bool { count == capacity }

  mutating func add(_ index: UInt64) {
    precondition(!isFull, "in-flight window of \(capacity) overflows")
    if buffer.count < capacity { buffer.append(0) }
    buffer[(start + count) % capacity] = index
    count += 1
  }

  /// Acknowledges every append whose last index is at most `index`.
  mutating func free(upTo index: UInt64) {
    while count > 0 && buffer[start] <= index {
      start = (start + 1) % capacity
      count -= 1
    }
  }

  mutating func reset() {
    start = 0
    count = 0
  }

  mutating func freeFirst() {
    guard count > 0 else { return }
    start = (start + 1) % capacity
    count -= 1
  }
}

/// The leader's view of one member's log. Invariant: `match < next`.
struct Progress {
  var match: UInt64 = 0
  var next: UInt64
  var state = ProgressState.probe
  /// In probe state: an append is outstanding, wait for its answer or a
  /// heartbeat response before sending another.
  var probeSent = false
  /// In snapshot state: the index of the snapshot being sent.
  var pendingSnapshot: UInt64 = 0
  /// Heard from since the last check-quorum round.
  var recentActive = false
  var inflights: Inflights
  var isLearner: Bool

  init(next: UInt64, inflightCapacity: Int, isLearner: Bool, active: Bool = false) {
    self.next = next
    self.recentActive = active
    self.inflights = Inflights(capacity: inflightCapacity)
    self.isLearner = isLearner
  }

  var isPaused: Bool {
    switch state {
    case .probe: probeSent
    case .replicate: inflights.isFull
    case .snapshot: true
    }
  }

  private mutating func reset(to newState: ProgressState) {
    probeSent = false
    pendingSnapshot = 0
    state = newState
    inflights.reset()
  }

  mutating func becomeProbe() {
    // After a snapshot, probing resumes right after it.
    if state == .snapshot {
      let snapshotIndex = pendingSnapshot
      reset(to: .probe)
      next = max(match + 1, snapshotIndex + 1)
    } else {
      reset(to: .probe)
      next = match + 1
    }
  }

  mutating func becomeReplicate() {
    reset(to: .replicate)
    next = match + 1
  }

  mutating func becomeSnapshot(_ index: UInt64) {
    reset(to: .snapshot)
    pendingSnapshot = index
  }

  /// An acknowledgement of everything up to `index`. Returns whether `match`
  /// grew; a stale acknowledgement changes nothing.
  mutating func maybeUpdate(_ index: UInt64) -> Bool {
    var updated = false
    if match < index {
      match = index
      updated = true
      probeSent = false
    }
    next = max(next, index + 1)
    return updated
  }

  /// Appends up to `last` were just sent in replicate state.
  mutating func optimisticUpdate(_ last: UInt64) {
    next = last + 1
  }

  /// The follower rejected an append at `rejected`; `hint` is the highest index
  /// at which our logs may agree. Returns false for a stale rejection.
  mutating func maybeDecrease(rejected: UInt64, hint: UInt64) -> Bool {
    if state == .replicate {
      // Rejections of appends at or below match are stale.
      if rejected <= match { return false }
      next = match + 1
      return true
    }
    // In probe state only the answer to the append at next - 1 counts.
    if next == 0 || next - 1 != rejected { return false }
    next = max(min(rejected, hint + 1), match + 1)
    probeSent = false
    return true
  }
}
