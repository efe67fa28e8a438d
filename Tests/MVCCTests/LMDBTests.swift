import Foundation
import Testing

@testable import MVCC

@Suite struct LMDBTests {
  func withEnvironment(_ body: (LMDBEnvironment, [String: LMDBBucket]) throws -> Void) throws {
    try withTemporaryDirectory { directory in
      let environment = try LMDBEnvironment(
        path: directory + "/env", mapSize: 1 << 20, maxBuckets: 4, durability: .deferMetaSync)
      defer { environment.close() }
      try body(environment, try environment.openBuckets(["one", "two"]))
    }
  }

  @Test func bucketsAreSeparateAndCursorsWalkInByteOrder() throws {
    try withEnvironment { environment, buckets in
      let txn = try environment.beginWrite()
      for key in [[3], [1, 0], [1], [0xFF], [2]] as [[UInt8]] {
        try txn.put(buckets["one"]!, key, key + key)
      }
      try txn.put(buckets["two"]!, [1], [9])
      #expect(try txn.delete(buckets["one"]!, [2]))
      #expect(try !txn.delete(buckets["one"]!, [2]))
      try txn.commit()

      try environment.read { txn throws(MVCCError) in
        var seen: [[UInt8]] = []
        try txn.forEach(buckets["one"]!) { key, value throws(MVCCError) in
          #expect(Array(value) == Array(key) + Array(key))
          seen.append(Array(key))
          return true
        }
        #expect(seen == [[1], [1, 0], [3], [0xFF]])
        var fromTwo: [[UInt8]] = []
        try txn.forEach(buckets["one"]!, from: [1, 1]) { key, _ throws(MVCCError) in
          fromTwo.append(Array(key))
          return fromTwo.count < 2
        }
        #expect(fromTwo == [[3], [0xFF]])
        #expect(try txn.get(buckets["two"]!, [1]) == [9])
        #expect(try txn.get(buckets["two"]!, [3]) == nil)
      }
    }
  }

  @Test func readersOnOtherThreadsSeeOnlyCommits() throws {
    try withEnvironment { environment, buckets in
      let bucket = buckets["one"]!
      // The write transaction stays on this thread, as LMDB requires.
      let txn = try environment.beginWrite()
      try txn.put(bucket, [1], [1])
      let read: @Sendable () throws -> [UInt8]? = {
        try environment.read { txn throws(MVCCError) in try txn.get(bucket, [1]) }
      }
      #expect(try onAnotherThread(read) == nil)
      try txn.commit()
      #expect(try onAnotherThread(read) == [1])
    }
  }

  @Test func errorsCarryLMDBsCodeAndMessage() throws {
    do {
      _ = try LMDBEnvironment(
        path: "/nonexistent-dir/env", mapSize: 1 << 20, maxBuckets: 1, durability: .noSync)
      Issue.record("opened an environment in a missing directory")
    } catch {
      guard case .lmdb(let operation, let code, let message) = error else {
        Issue.record("expected .lmdb, got \(error)")
        return
      }
      #expect(operation.hasPrefix("mdb_env_open"))
      #expect(code == ENOENT)
      #expect(!message.isEmpty)
    }
  }

  @Test func mapFullIsAnErrorNotACrash() throws {
    try withEnvironment { environment, buckets in
      let txn = try environment.beginWrite()
      defer { txn.abort() }
      let value = [UInt8](repeating: 1, count: 4096)
      var failure: MVCCError?
      for key in 0..<1000 where failure == nil {
        do throws(MVCCError) {
          try txn.put(buckets["one"]!, Array("\(key)".utf8), value)
        } catch {
          failure = error
        }
      }
      guard case .lmdb(_, let code, _) = failure else {
        Issue.record("expected MDB_MAP_FULL, got \(String(describing: failure))")
        return
      }
      #expect(code == -30792)
    }
  }
}

/// Runs `body` on a new thread and waits for it.
func onAnotherThread<T>(_ body: @escaping @Sendable () throws -> T) throws -> T {
  let outcome = ThreadOutcome<T>()
  let done = DispatchSemaphore(value: 0)
  let thread = Thread {
    outcome.result = Result { try body() }
    done.signal()
  }
  thread.start()
  done.wait()
  return try outcome.result!.get()
}

/// Written by the thread before it signals, read after the wait.
private final class ThreadOutcome<T>: @unchecked Sendable {
  var result: Result<T, any Error>?
}
