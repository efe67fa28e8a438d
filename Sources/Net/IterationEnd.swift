import CLibUV

/// A `uv_check_t` that runs queued actions once the loop has handled the
/// I/O of the current iteration: work produced by many callbacks in one
/// iteration (the responses to a batch of applied writes) is then finished
/// once, e.g. one HTTP/2 flush per connection instead of one per response.
/// Loop thread only. Unreferenced, so it never keeps the loop alive, and
/// started only while actions wait, so an idle loop still blocks in poll.
final class IterationEnd: LoopHandle {
  private var actions: [() -> Void] = []
  private var isActive = false

  init(loop: EventLoop) throws(NetError) {
    super.init(loop: loop, type: UV_CHECK)
    let check = rawHandle.assumingMemoryBound(to: uv_check_t.self)
    try uvCheck(uv_check_init(loop.uvLoop, check))
    adoptHandle()
    uv_unref(handle)
  }

  func enqueue(_ action: @escaping () -> Void) {
    guard !isClosing else { return }
    actions.append(action)
    guard !isActive else { return }
    isActive = true
    let check = rawHandle.assumingMemoryBound(to: uv_check_t.self)
    uv_check_start(check) { check in
      (LoopHandle.owner(of: check) as? IterationEnd)?.run()
    }
  }

  private func run() {
    // Actions may queue more (a flush lets a stream produce its next
    // chunks): run those too, a bounded number of rounds so a producer that
    // never stops cannot starve I/O.
    for _ in 0..<Self.maxRounds where !actions.isEmpty {
      let batch = actions
      actions = []
      for action in batch { action() }
    }
    if actions.isEmpty {
      if isActive {
        isActive = false
        uv_check_stop(rawHandle.assumingMemoryBound(to: uv_check_t.self))
      }
    } else {
      // A check handle does not keep poll from blocking: wake the loop so
      // the rest runs in the next iteration rather than after the next I/O.
      loop.post {}
    }
  }

  private static let maxRounds = 64

  override func willClose() {
    actions = []
  }
}
