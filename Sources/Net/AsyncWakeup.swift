import CLibUV
import Synchronization

/// A `uv_async_t` plus a locked job queue: other threads post closures, the
/// loop thread runs them in posting order.
///
/// libuv coalesces `uv_async_send` calls, so one wakeup may run many jobs;
/// each drain takes a snapshot, so jobs posted while draining wait for the
/// next iteration rather than starving the loop.
public final class AsyncWakeup: LoopHandle, @unchecked Sendable {
  private struct Queue {
    var jobs: [@Sendable () -> Void] = []
    var isClosed = false
  }

  private let queue = Mutex(Queue())

  /// Loop thread only.
  public init(loop: EventLoop) throws(NetError) {
    super.init(loop: loop, type: UV_ASYNC)
    let async = rawHandle.assumingMemoryBound(to: uv_async_t.self)
    try uvCheck(
      uv_async_init(loop.uvLoop, async) { async in
        (LoopHandle.owner(of: async) as? AsyncWakeup)?.drain()
      })
    adoptHandle()
  }

  /// Queues `job` for the loop thread. Safe from any thread. Returns false
  /// (and drops the job) after `close()`.
  @discardableResult
  public func post(_ job: @escaping @Sendable () -> Void) -> Bool {
    let async = rawHandle.assumingMemoryBound(to: uv_async_t.self)
    return queue.withLock { queue in
      guard !queue.isClosed else { return false }
      queue.jobs.append(job)
      // Sent under the lock: `willClose` flips `isClosed` under the same lock
      // before uv_close, so no send can race the handle being freed.
      uv_async_send(async)
      return true
    }
  }

  override func willClose() {
    queue.withLock { $0.isClosed = true }
  }

  override func didClose() {
    queue.withLock { $0.jobs = [] }
  }

  private func drain() {
    let batch = queue.withLock { queue in
      let batch = queue.jobs
      queue.jobs = []
      return batch
    }
    for job in batch { job() }
  }
}
