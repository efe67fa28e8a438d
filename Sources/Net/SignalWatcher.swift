import CLibUV

/// Delivers a POSIX signal (SIGINT, SIGTERM, ...) as a callback on the loop.
///
/// libuv turns the signal into a loop event, so the callback may do anything
/// a loop callback may; several deliveries before the loop wakes may arrive
/// as one callback.
public final class SignalWatcher: LoopHandle {
  private var callback: ((Int32) -> Void)?

  /// Starts watching `signal`. Loop thread only.
  public init(loop: EventLoop, signal: Int32, _ callback: @escaping (Int32) -> Void)
    throws(NetError)
  {
    self.callback = callback
    super.init(loop: loop, type: UV_SIGNAL)
    let watcher = rawHandle.assumingMemoryBound(to: uv_signal_t.self)
    try uvCheck(uv_signal_init(loop.uvLoop, watcher))
    adoptHandle()
    let rc = uv_signal_start(
      watcher,
      { watcher, signal in (LoopHandle.owner(of: watcher) as? SignalWatcher)?.callback?(signal) },
      signal)
    if rc < 0 {
      close()
      throw .uv(rc)
    }
  }

  override func willClose() { callback = nil }
}
