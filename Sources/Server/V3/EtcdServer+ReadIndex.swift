import Net
import Raft

/// Linearizable reads without a log entry: Raft's ReadIndex confirms the
/// leadership and names a commit index; the read runs once the member has
/// applied that far. Raft batches the confirmations itself (one heartbeat
/// round serves every read that arrived meanwhile).
extension EtcdServer {
  /// Calls `completion` with nil when a linearizable read may run, or with
  /// the error to answer; it gives up after the request timeout.
  func awaitReadIndex(_ completion: @escaping (V3Error?) -> Void) {
    readIndexCounter &+= 1
    let context = readIndexCounter
    var timer: LoopTimer?
    readIndexWaiters[context] = { error in
      timer?.cancel()
      completion(error)
    }
    timer = LoopTimer.after(Self.requestTimeoutMs, on: loop) { [weak self] in
      self?.readIndexWaiters.removeValue(forKey: context)?(.timeout)
    }
    let ask = { [weak self] in
      guard let self, readIndexWaiters[context] != nil else { return }
      do {
        try driver.readIndex(context: Self.bytes(context))
      } catch {
        readIndexWaiters.removeValue(forKey: context)?(.noLeader)
      }
    }
    if driver.node.leader == 0 { waitingForLeader.append(ask) } else { ask() }
  }

  /// Read states from a Ready: each read may run once its index is applied.
  func readStatesArrived(_ states: [ReadState]) {
    for state in states {
      let context = state.requestContext.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
      guard let waiter = readIndexWaiters.removeValue(forKey: context) else { continue }
      if appliedIndex >= state.index {
        waiter(nil)
      } else {
        readsAwaitingApply.append((state.index, waiter))
      }
    }
  }

  /// Calls `completion` with true once every entry committed now is
  /// applied, or with false after `timeoutMs`. The leader serves a
  /// forwarded lease request only then, as etcd does: a revoke or grant
  /// still being applied must not be answered past.
  func awaitAppliedCommit(timeoutMs: UInt64, _ completion: @escaping (Bool) -> Void) {
    let committed = driver.node.committedIndex
    guard appliedIndex < committed else { return completion(true) }
    var pending: ((Bool) -> Void)? = completion
    let timer = LoopTimer.after(timeoutMs, on: loop) {
      pending?(false)
      pending = nil
    }
    readsAwaitingApply.append(
      (
        committed,
        { _ in
          timer.cancel()
          pending?(true)
          pending = nil
        }
      ))
  }

  /// After entries are applied: the reads that waited for them.
  func releaseReadsAwaitingApply() {
    guard !readsAwaitingApply.isEmpty else { return }
    let ready = readsAwaitingApply.filter { $0.index <= appliedIndex }
    readsAwaitingApply.removeAll { $0.index <= appliedIndex }
    for read in ready { read.waiter(nil) }
  }

  private static func bytes(_ value: UInt64) -> [UInt8] {
    (0..<8).reversed().map { UInt8(truncatingIfNeeded: value >> (UInt64($0) * 8)) }
  }
}
