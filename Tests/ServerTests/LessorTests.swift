import Foundation
import MVCC
import Testing

@testable import Server

@Suite("Lessor")
struct LessorTests {
  static let second: Int64 = 1_000_000_000

  /// Runs `body` with a fresh store, removed afterwards.
  func withStore(_ body: (MVCCStore) throws -> Void) throws {
    let path = "/tmp/swetcd-lessor-\(UUID().uuidString).db"
    defer {
      try? FileManager.default.removeItem(atPath: path)
      try? FileManager.default.removeItem(atPath: path + "-lock")
    }
    let store = try MVCCStore(path: path)
    defer { store.close() }
    try body(store)
  }

  @Test("a keepalive extends a live lease; an expired one is not brought back")
  func renewal() throws {
    try withStore { store in
      var lessor = Lessor(electionTimeoutMs: 1000)
      _ = try lessor.grant(7, ttl: 10, now: 0, store)
      #expect(lessor.renew(7, now: 5 * Self.second) == 10)
      #expect(lessor.expired(now: 14 * Self.second).isEmpty, "renewed at 5 s: expires at 15 s")
      #expect(lessor.renew(7, now: 15 * Self.second) == nil)
      #expect(lessor.expired(now: 15 * Self.second) == [7], "still expired, awaiting its revoke")
      #expect(lessor.renew(8, now: 0) == nil)
      // The minimum TTL is ceil(1.5 x election timeout).
      #expect(try lessor.grant(9, ttl: 1, now: 0, store).ttl == 2)
    }
  }

  @Test("a new leader restarts every lease's clock with an election timeout to spare")
  func promotion() throws {
    try withStore { store in
      var lessor = Lessor(electionTimeoutMs: 1000)
      _ = try lessor.grant(7, ttl: 10, now: 0, store)
      lessor.promote(now: 20 * Self.second, extend: Self.second)
      #expect(lessor.expired(now: 30 * Self.second).isEmpty, "10 s from the promotion, and 1 more")
      #expect(lessor.remaining(7, now: 20 * Self.second) == 11)
      #expect(lessor.expired(now: 31 * Self.second) == [7])
    }
  }
}
