import CLibUV

/// A one-shot or repeating timer on the loop clock (milliseconds).
///
/// A timer is single-use: it closes itself after a one-shot fires or on
/// `cancel()`, so holding it only to cancel it later is enough. The callback
/// is dropped when the timer closes, which breaks any cycle through it.
public final class LoopTimer: LoopHandle {
  private var callback: (() -> Void)?
  private let repeats: Bool

  /// Runs `callback` once, `delayMs` from now. Loop thread only.
  @discardableResult
  public static func after(
    _ delayMs: UInt64, on loop: EventLoop, _ callback: @escaping () -> Void
  ) -> LoopTimer {
    LoopTimer(loop: loop, delayMs: delayMs, intervalMs: 0, callback: callback)
  }

  /// Runs `callback` every `intervalMs` until cancelled. Loop thread only.
  @discardableResult
  public static func every(
    _ intervalMs: UInt64, on loop: EventLoop, _ callback: @escaping () -> Void
  ) -> LoopTimer {
    precondition(intervalMs > 0, "a repeating timer needs a positive interval")
    return LoopTimer(loop: loop, delayMs: intervalMs, intervalMs: intervalMs, callback: callback)
  }

  private init(loop: EventLoop, delayMs: UInt64, intervalMs: UInt64, callback: @escaping () -> Void)
  {
    self.callback = callback
    repeats = intervalMs > 0
    super.init(loop: loop, type: UV_TIMER)
    let timer = rawHandle.assumingMemoryBound(to: uv_timer_t.self)
    // Both calls only fail on a handle that is not a timer.
    precondition(uv_timer_init(loop.uvLoop, timer) == 0)
    adoptHandle()
    let rc = uv_timer_start(
      timer, { timer in (LoopHandle.owner(of: timer) as? LoopTimer)?.fire() }, delayMs, intervalMs)
    precondition(rc == 0)
  }

  /// Stops the timer for good; a pending callback never runs. Idempotent.
  public func cancel() { close() }

  /// True until the timer fired (one-shot) or was cancelled.
  public var isActive: Bool { !isClosing }

  private func fire() {
    callback?()
    if !repeats { close() }
  }

  override func willClose() { callback = nil }
}
