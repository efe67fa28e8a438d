import CLibUV

#if canImport(Glibc)
  import Glibc
#endif

/// A libuv loop and the one thread that runs it.
///
/// Create it anywhere, then call `run()` on the thread that will own it; all
/// handles must be created and used on that thread. `post(_:)` and `stop()`
/// are the only calls safe from other threads. The loop keeps an internal
/// wakeup handle open, so `run()` returns only after `stop()`.
public final class EventLoop: @unchecked Sendable {
  let uvLoop: UnsafeMutablePointer<uv_loop_t>
  /// One read buffer for every connection on this loop, as Node does: libuv
  /// calls alloc and then read for one stream back to back, and `onRead`
  /// borrows the bytes only for its call, so no two reads ever share it.
  let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
  /// Set once in `init`; read-only afterwards, so other threads may use it.
  private var jobs: AsyncWakeup?
  private var iterationEnd: IterationEnd?
  private var isLoopClosed = false

  /// Also ignores SIGPIPE for the whole process: libuv writes with plain
  /// writev, and a peer that vanished mid-write must cost an EPIPE on that
  /// connection, not the process.
  public init() throws(NetError) {
    signal(SIGPIPE, SIG_IGN)
    uvLoop = .allocate(capacity: 1)
    let rc = uv_loop_init(uvLoop)
    if rc < 0 {
      // Nothing to close; deinit still runs and frees the memory.
      isLoopClosed = true
      throw .uv(rc)
    }
    do {
      jobs = try AsyncWakeup(loop: self)
      iterationEnd = try IterationEnd(loop: self)
    } catch {
      uv_loop_close(uvLoop)
      isLoopClosed = true
      throw error
    }
  }

  deinit {
    precondition(isLoopClosed, "EventLoop released without close()")
    uvLoop.deallocate()
    readBuffer.deallocate()
  }

  /// Runs callbacks until `stop()`; returns on the calling thread.
  public func run() {
    uv_run(uvLoop, UV_RUN_DEFAULT)
  }

  /// Makes `run()` return after the current iteration. Safe from any thread.
  public func stop() {
    post { [self] in uv_stop(uvLoop) }
  }

  /// Queues `job` to run on the loop thread. Safe from any thread.
  /// Returns false (and drops the job) once the loop is closing.
  @discardableResult
  public func post(_ job: @escaping @Sendable () -> Void) -> Bool {
    jobs?.post(job) ?? false
  }

  /// Runs `action` after this iteration's I/O callbacks (libuv's check
  /// phase). Loop thread only.
  public func atIterationEnd(_ action: @escaping () -> Void) {
    iterationEnd?.enqueue(action)
  }

  /// Milliseconds of the loop's cached clock (updated once per iteration).
  public var nowMs: UInt64 { uv_now(uvLoop) }

  /// Closes every open handle (connections see their `onClose`), lets the
  /// close callbacks run, and frees the loop. Call on the loop thread after
  /// `run()` returned; jobs posted but not yet run are dropped.
  public func close() {
    precondition(!isLoopClosed, "EventLoop closed twice")
    // A close callback may open a new handle (a reconnect timer, say); a few
    // rounds settle that, and a loop that never settles is a bug worth a trap.
    for _ in 0..<16 {
      uv_walk(uvLoop, { handle, _ in LoopHandle.owner(of: handle)?.close() }, nil)
      uv_run(uvLoop, UV_RUN_DEFAULT)
      if uv_loop_close(uvLoop) == 0 {
        isLoopClosed = true
        return
      }
    }
    preconditionFailure("EventLoop.close: handles keep reopening")
  }
}
