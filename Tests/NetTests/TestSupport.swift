import Dispatch
import Foundation
import Net

#if canImport(Glibc)
  import Glibc
#endif

/// A value shared between the test thread and the loop thread under a lock.
final class Locked<Value>: @unchecked Sendable {
  private let lock = NSLock()
  private var stored: Value

  init(_ value: Value) { stored = value }

  var value: Value {
    lock.lock()
    defer { lock.unlock() }
    return stored
  }

  func update<R>(_ body: (inout Value) -> R) -> R {
    lock.lock()
    defer { lock.unlock() }
    return body(&stored)
  }
}

/// Holds loop-thread objects (servers, responders) so @Sendable jobs can
/// reach them; touched only on the loop thread.
final class LoopLocal<Value>: @unchecked Sendable {
  var value: Value?
}

struct TestTimeout: Error {}

/// An EventLoop running on its own thread for one test.
final class LoopThread: Sendable {
  let loop: EventLoop
  private let finished = DispatchSemaphore(value: 0)

  private init(loop: EventLoop) { self.loop = loop }

  /// Starts the loop; `setup` runs on the loop thread before it spins and its
  /// result (a bound port, say) comes back here.
  static func start<T: Sendable>(
    _ setup: @escaping @Sendable (EventLoop) throws -> T
  ) throws -> (LoopThread, T) {
    let runner = LoopThread(loop: try EventLoop())
    let result = Locked<Result<T, any Error>?>(nil)
    let ready = DispatchSemaphore(value: 0)
    // Whatever `setup` captured (a server, say) lives while the loop runs and
    // is dropped after, even if Foundation keeps the Thread object around.
    let pendingSetup = Locked<(@Sendable (EventLoop) throws -> T)?>(setup)
    let thread = Thread {
      result.update { $0 = Result { try pendingSetup.value!(runner.loop) } }
      ready.signal()
      runner.loop.run()
      runner.loop.close()
      pendingSetup.update { $0 = nil }
      runner.finished.signal()
    }
    thread.start()
    guard ready.wait(timeout: .now() + 10) == .success, let outcome = result.value else {
      throw TestTimeout()
    }
    return (runner, try outcome.get())
  }

  /// Runs `body` on the loop thread and waits for its result.
  func sync<T: Sendable>(_ body: @escaping @Sendable () -> T) throws -> T {
    let result = Locked<T?>(nil)
    let done = DispatchSemaphore(value: 0)
    loop.post {
      result.update { $0 = body() }
      done.signal()
    }
    guard done.wait(timeout: .now() + 10) == .success, let value = result.value else {
      throw TestTimeout()
    }
    return value
  }

  /// Stops the loop, closes every handle and joins; true if that took < 10 s.
  @discardableResult
  func stop() -> Bool {
    loop.stop()
    return finished.wait(timeout: .now() + 10) == .success
  }
}

/// Polls `condition` every millisecond for at most `timeoutMs`.
func waitUntil(timeoutMs: Int = 5000, _ condition: () -> Bool) -> Bool {
  for _ in 0..<timeoutMs {
    if condition() { return true }
    usleep(1000)
  }
  return condition()
}

/// Deterministic generator for fuzz inputs, so a failing seed replays.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
