import Testing
import V2Store

/// compareAndSwap and compareAndDelete over every combination of the two conditions,
/// against a key at modifiedIndex 1 holding "v".
@Suite struct CompareTests {
  static let matrix: [(prevValue: String, prevIndex: UInt64, cause: String?)] = [
    ("", 0, nil),
    ("v", 0, nil),
    ("", 1, nil),
    ("v", 1, nil),
    ("x", 0, "[x != v]"),
    ("", 9, "[9 != 1]"),
    ("x", 1, "[x != v]"),
    ("v", 9, "[9 != 1]"),
    ("x", 9, "[x != v] [9 != 1]"),
  ]

  @Test(arguments: 0..<matrix.count) func compareAndSwap(_ row: Int) {
    let (prevValue, prevIndex, cause) = Self.matrix[row]
    let store = V2Store()
    _ = plainSet(store, "/k", "v", at: epoch)
    do {
      let event = try store.compareAndSwap(
        "/k", prevValue: prevValue, prevIndex: prevIndex, value: "w", ttl: nil, now: epoch)
      #expect(cause == nil)
      #expect(event.action == .compareAndSwap && event.node.value == "w" && event.index == 2)
      #expect(store.stats.compareAndSwapSuccess == 1)
    } catch {
      #expect(error == V2Error(.testFailed, cause: cause ?? "", index: 1))
      #expect(store.stats.compareAndSwapFail == 1 && store.currentIndex == 1)
    }
  }

  @Test(arguments: 0..<matrix.count) func compareAndDelete(_ row: Int) {
    let (prevValue, prevIndex, cause) = Self.matrix[row]
    let store = V2Store()
    _ = plainSet(store, "/k", "v", at: epoch)
    do {
      let event = try store.compareAndDelete(
        "/k", prevValue: prevValue, prevIndex: prevIndex, now: epoch)
      #expect(cause == nil)
      #expect(event.action == .compareAndDelete && event.node.value == nil)
    } catch {
      #expect(error == V2Error(.testFailed, cause: cause ?? "", index: 1))
    }
  }

  @Test func directoriesAndMissingKeys() throws {
    let store = V2Store()
    _ = try store.set("/d", dir: true, value: "", ttl: nil, now: epoch)
    #expect(throws: V2Error(.notFile, cause: "/d", index: 1)) {
      try store.compareAndSwap("/d", prevValue: "a", prevIndex: 0, value: "b", ttl: nil, now: epoch)
    }
    #expect(throws: V2Error(.notFile, cause: "/d", index: 1)) {
      try store.compareAndDelete("/d", prevValue: "a", prevIndex: 0, now: epoch)
    }
    #expect(throws: V2Error(.keyNotFound, cause: "/nope", index: 1)) {
      try store.compareAndSwap(
        "/nope", prevValue: "a", prevIndex: 0, value: "b", ttl: nil, now: epoch)
    }
    #expect(throws: V2Error(.rootReadOnly, cause: "/", index: 1)) {
      try store.compareAndSwap("/", prevValue: "a", prevIndex: 0, value: "b", ttl: nil, now: epoch)
    }
    #expect(throws: V2Error(.notFile, cause: "/", index: 1)) {
      try store.compareAndDelete("/", prevValue: "a", prevIndex: 0, now: epoch)
    }
  }
}
