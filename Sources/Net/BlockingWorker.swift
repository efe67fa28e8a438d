import CLibUV

/// A dedicated thread for blocking work (fdatasync, file copies, bcrypt)
/// whose results come back on the loop thread.
///
/// Jobs run one at a time in submission order; the thread takes every job
/// queued so far in one batch, so callers can build group commit on top.
/// Call `stop()` before dropping the worker: the thread holds a retain on it
/// until it exits.
public final class BlockingWorker: @unchecked Sendable {
  private let loop: EventLoop
  private let mutex: UnsafeMutablePointer<uv_mutex_t> = .allocate(capacity: 1)
  private let condition: UnsafeMutablePointer<uv_cond_t> = .allocate(capacity: 1)
  private var thread = uv_thread_t()
  /// Guarded by `mutex`.
  private var queue: [@Sendable () -> Void] = []
  /// Guarded by `mutex`; once set, the thread exits after draining `queue`.
  private var isStopping = false
  private var isJoined = false

  /// Starts the thread. Any thread.
  public init(loop: EventLoop) throws(NetError) {
    self.loop = loop
    precondition(uv_mutex_init(mutex) == 0 && uv_cond_init(condition) == 0)
    let selfPointer = Unmanaged.passRetained(self).toOpaque()
    let rc = uv_thread_create(
      &thread,
      { pointer in
        guard let pointer else { return }
        Unmanaged<BlockingWorker>.fromOpaque(pointer).takeRetainedValue().runJobs()
      }, selfPointer)
    if rc < 0 {
      Unmanaged<BlockingWorker>.fromOpaque(selfPointer).release()
      isJoined = true
      throw .uv(rc)
    }
  }

  deinit {
    uv_cond_destroy(condition)
    uv_mutex_destroy(mutex)
    condition.deallocate()
    mutex.deallocate()
  }

  /// Runs `work` on the worker thread, then `completion` with its result on the
  /// loop thread. Call from the loop thread (the completion is not Sendable).
  /// Completions pending when the loop closes are dropped.
  public func submit<Result: Sendable>(
    _ work: @escaping @Sendable () -> Result, completion: @escaping (Result) -> Void
  ) {
    let completion = LoopBound(completion)
    let loop = self.loop
    enqueue {
      let result = work()
      loop.post { completion.value(result) }
    }
  }

  /// Runs `work` on the worker thread with no completion. Any thread.
  public func enqueue(_ work: @escaping @Sendable () -> Void) {
    uv_mutex_lock(mutex)
    precondition(!isStopping, "BlockingWorker used after stop()")
    queue.append(work)
    uv_cond_signal(condition)
    uv_mutex_unlock(mutex)
  }

  /// Lets queued jobs finish, then joins the thread. Blocks; call once.
  public func stop() {
    uv_mutex_lock(mutex)
    isStopping = true
    uv_cond_signal(condition)
    uv_mutex_unlock(mutex)
    guard !isJoined else { return }
    isJoined = true
    uv_thread_join(&thread)
  }

  private func runJobs() {
    while true {
      uv_mutex_lock(mutex)
      while queue.isEmpty && !isStopping { uv_cond_wait(condition, mutex) }
      let batch = queue
      queue = []
      let done = batch.isEmpty && isStopping
      uv_mutex_unlock(mutex)
      if done { return }
      for job in batch { job() }
    }
  }
}

/// A value that crosses threads but is only ever touched on the loop thread
/// (a non-Sendable completion travelling through a worker and back).
struct LoopBound<Value>: @unchecked Sendable {
  let value: Value
  init(_ value: Value) { self.value = value }
}
