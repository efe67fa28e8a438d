import Dispatch
import Foundation
import Net
import Testing

#if canImport(Glibc)
  import Glibc
#endif

@Suite struct EventLoopTests {
  @Test func oneShotTimersFireOnceInDeadlineOrder() throws {
    let fired = Locked<[String]>([])
    let (runner, _) = try LoopThread.start { loop in
      LoopTimer.after(30, on: loop) { fired.update { $0.append("late") } }
      LoopTimer.after(10, on: loop) { fired.update { $0.append("early") } }
      let cancelled = LoopTimer.after(20, on: loop) { fired.update { $0.append("cancelled") } }
      cancelled.cancel()
    }
    #expect(waitUntil(timeoutMs: 2000) { fired.value.count >= 2 })
    usleep(50_000)
    runner.stop()
    #expect(fired.value == ["early", "late"])
  }

  @Test func repeatingTimerFiresUntilCancelled() throws {
    let ticks = Locked(0)
    let (runner, _) = try LoopThread.start { loop in
      let timer = LoopLocal<LoopTimer>()
      timer.value = LoopTimer.every(2, on: loop) {
        if ticks.update({
          $0 += 1
          return $0
        }) == 5 {
          timer.value?.cancel()
        }
      }
    }
    #expect(waitUntil(timeoutMs: 2000) { ticks.value >= 5 })
    usleep(30_000)
    runner.stop()
    #expect(ticks.value == 5)
  }

  @Test func wakeupRunsJobsFromFourThreadsOnTheLoopThread() throws {
    let loopThread = Locked<pthread_t?>(nil)
    let (runner, _) = try LoopThread.start { _ in loopThread.update { $0 = pthread_self() } }
    let ran = Locked(0)
    let offLoop = Locked(0)
    let perThread = 10_000
    DispatchQueue.concurrentPerform(iterations: 4) { _ in
      for _ in 0..<perThread {
        runner.loop.post {
          ran.update { $0 += 1 }
          if pthread_equal(pthread_self(), loopThread.value!) == 0 { offLoop.update { $0 += 1 } }
        }
      }
    }
    #expect(waitUntil(timeoutMs: 10_000) { ran.value == 4 * perThread })
    runner.stop()
    #expect(ran.value == 4 * perThread)
    #expect(offLoop.value == 0)
  }

  @Test func wakeupRefusesJobsAfterClose() throws {
    let (runner, wakeup) = try LoopThread.start { loop in
      let wakeup = LoopLocal<AsyncWakeup>()
      wakeup.value = try AsyncWakeup(loop: loop)
      return wakeup
    }
    let ran = Locked(false)
    #expect(try runner.sync { wakeup.value!.post { ran.update { $0 = true } } })
    #expect(waitUntil(timeoutMs: 2000) { ran.value })
    try runner.sync { wakeup.value!.close() }
    #expect(try runner.sync { wakeup.value!.post {} } == false)
    runner.stop()
  }

  @Test func blockingWorkerCompletesOnTheLoopInOrder() throws {
    let results = Locked<[Int]>([])
    let workerThreads = Locked(Set<UInt>())
    let (runner, worker) = try LoopThread.start { loop in
      let worker = try BlockingWorker(loop: loop)
      let loopThread = pthread_self()
      for index in 0..<100 {
        worker.submit({
          workerThreads.update { _ = $0.insert(UInt(pthread_self())) }
          return index * 2
        }) { value in
          precondition(pthread_equal(pthread_self(), loopThread) != 0)
          results.update { $0.append(value) }
        }
      }
      return worker
    }
    #expect(waitUntil(timeoutMs: 5000) { results.value.count == 100 })
    worker.stop()
    runner.stop()
    #expect(results.value == (0..<100).map { $0 * 2 })
    #expect(workerThreads.value.count == 1)
  }

  @Test func signalWatcherDeliversOnTheLoop() throws {
    let received = Locked<Int32?>(nil)
    let (runner, watcher) = try LoopThread.start { loop in
      let watcher = LoopLocal<SignalWatcher>()
      watcher.value = try SignalWatcher(loop: loop, signal: SIGUSR2) { signal in
        received.update { $0 = signal }
      }
      return watcher
    }
    kill(getpid(), SIGUSR2)
    #expect(waitUntil(timeoutMs: 2000) { received.value != nil })
    #expect(received.value == SIGUSR2)
    try runner.sync { watcher.value?.close() }
    runner.stop()
  }

  @Test func stopReturnsFromRunAndCloseFreesHandles() throws {
    let (runner, _) = try LoopThread.start { loop in
      _ = LoopTimer.every(1000, on: loop) {}
    }
    #expect(runner.stop())
  }
}
