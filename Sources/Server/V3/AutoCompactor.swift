/// etcd's automatic compaction (--auto-compaction-mode and -retention) as
/// a pure state machine: `tick` is called every `tickMs` with the current
/// revision and answers a revision to compact to, if it is time for one;
/// the member reports back with `compacted`. Only a leader compacts, but
/// every member samples, so a new leader knows its history.
struct AutoCompactor: Equatable {
  enum Mode: Equatable {
    /// Keep `periodMs` of history: revisions are sampled ten times per
    /// period (or per hour, for longer periods), and once `periodMs` has
    /// passed since the start, the store is compacted to the oldest sample;
    /// then again every period (at most every hour), each time to the
    /// revision of one period and one sampling interval before, as etcd's
    /// compactor (which samples before it waits) does.
    case periodic(periodMs: UInt64)
    /// Keep this many revisions: every 5 minutes, compact to the current
    /// revision less the retention.
    case revision(retain: Int64)
  }

  static let revisionIntervalMs: UInt64 = 5 * 60 * 1000
  static let hourMs: UInt64 = 60 * 60 * 1000

  let mode: Mode
  /// How often `tick` is to be called.
  let tickMs: UInt64
  /// Periodic: the revisions seen at each of the last ticks, oldest first.
  private var samples: [Int64] = []
  private var lastSuccessMs: UInt64
  /// Periodic: how long after the last success the next compaction comes.
  private var waitMs: UInt64
  /// Revision: the revision last compacted to.
  private var lastCompacted: Int64 = 0

  /// `revision` is the store's at the start: the first sample.
  init(mode: Mode, startMs: UInt64, revision: Int64) {
    self.mode = mode
    lastSuccessMs = startMs
    samples = [revision]
    switch mode {
    case .periodic(let periodMs):
      tickMs = max(1, min(periodMs, Self.hourMs) / 10)
      waitMs = periodMs
    case .revision:
      tickMs = Self.revisionIntervalMs
      waitMs = 0
    }
  }

  /// The revision to compact to now, if any. `isLeader` false only samples.
  mutating func tick(nowMs: UInt64, revision: Int64, isLeader: Bool) -> Int64? {
    switch mode {
    case .periodic(let periodMs):
      samples.append(revision)
      let kept = Int(periodMs / tickMs) + 2
      if samples.count > kept { samples.removeFirst(samples.count - kept) }
      // Compacting again to where the store already is would only add
      // an entry to the log.
      guard isLeader, nowMs - lastSuccessMs >= waitMs, let oldest = samples.first,
        oldest > lastCompacted
      else { return nil }
      return oldest
    case .revision(let retain):
      let target = revision - retain
      guard isLeader, target > 0, target != lastCompacted else { return nil }
      return target
    }
  }

  /// The store was compacted to `revision` (or already was, past it).
  mutating func compacted(to revision: Int64, nowMs: UInt64) {
    lastCompacted = revision
    lastSuccessMs = nowMs
    if case .periodic(let periodMs) = mode { waitMs = min(periodMs, Self.hourMs) }
  }
}
