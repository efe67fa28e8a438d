import Testing
import V2Store

/// A small deterministic generator so that a failing seed replays.
private struct SplitMix {
  var state: UInt64

  mutating func next(_ bound: Int) -> Int {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return Int((z ^ (z >> 31)) % UInt64(bound))
  }
}

/// Applies `count` random operations (every write kind, errors included, expiries)
/// and returns every response body in order.
private func drive(_ store: V2Store, seed: UInt64, count: Int) -> [String] {
  var random = SplitMix(state: seed)
  let keys = ["/a", "/b", "/d/x", "/d/y", "/d/_h", "/e/f/g", "/d"]
  var out: [String] = []
  for step in 0..<count {
    let now = epoch.adding(seconds: Int64(step))
    let key = keys[random.next(keys.count)]
    let ttl: Int64? = random.next(3) == 0 ? Int64(random.next(20)) : nil
    let body: () throws(V2Error) -> Event
    switch random.next(8) {
    case 0:
      body = { () throws(V2Error) in
        try store.set(key, dir: false, value: "\(step)", ttl: ttl, now: now)
      }
    case 1:
      body = { () throws(V2Error) in
        try store.create(key, dir: random.next(2) == 0, value: "c", ttl: ttl, now: now)
      }
    case 2: body = { () throws(V2Error) in try store.update(key, value: "u", ttl: ttl, now: now) }
    case 3:
      let prevIndex = UInt64(random.next(Int(store.currentIndex) + 1))
      body = { () throws(V2Error) in
        try store.compareAndSwap(
          key, prevValue: "", prevIndex: prevIndex, value: "s", ttl: ttl, now: now)
      }
    case 4:
      body = { () throws(V2Error) in
        try store.delete(key, dir: true, recursive: random.next(2) == 0, now: now)
      }
    case 5:
      body = { () throws(V2Error) in try store.createInOrder("/q", value: "o", ttl: ttl, now: now) }
    case 6: body = { () throws(V2Error) in try store.get("/", recursive: true, now: now) }
    default:
      out += store.expire(now: now).map { V2JSON.encode($0) }
      continue
    }
    do {
      out.append(V2JSON.encode(try body()))
    } catch {
      out.append(V2JSON.encode(error))
    }
  }
  return out
}

@Suite struct SnapshotTests {
  @Test(arguments: [1, 2, 3, 42] as [UInt64]) func sameOperationsSameBytes(_ seed: UInt64) {
    let first = V2Store(namespaces: ["/0", "/1"])
    let second = V2Store(namespaces: ["/0", "/1"])
    let firstOut = drive(first, seed: seed, count: 600)
    #expect(firstOut == drive(second, seed: seed, count: 600))
    #expect(first.snapshot() == second.snapshot())
  }

  @Test(arguments: [7, 8, 9] as [UInt64]) func roundTrip(_ seed: UInt64) throws {
    let original = V2Store()
    _ = drive(original, seed: seed, count: 1500)
    let bytes = original.snapshot()
    let restored = V2Store()
    try restored.restore(from: bytes)
    #expect(restored.snapshot() == bytes)
    #expect(restored.currentIndex == original.currentIndex)
    #expect(restored.nextExpiration == original.nextExpiration)
    let now = epoch.adding(seconds: 1500)
    #expect(
      V2JSON.encode(try restored.get("/", recursive: true, now: now))
        == V2JSON.encode(try original.get("/", recursive: true, now: now)))
    let oldest = original.currentIndex > 999 ? original.currentIndex - 999 : 1
    let fromOriginal = try original.watch("/", recursive: true, stream: false, waitIndex: oldest)
    #expect(
      try restored.watch("/", recursive: true, stream: false, waitIndex: oldest) == fromOriginal)
    // Both continue identically, expiries included.
    #expect(
      drive(restored, seed: seed + 100, count: 300) == drive(original, seed: seed + 100, count: 300)
    )
    #expect(restored.snapshot() == original.snapshot())
  }

  @Test func restoreKeepsWatchers() throws {
    let source = V2Store()
    _ = plainSet(source, "/k", at: epoch)
    let target = V2Store()
    guard
      case .waiting(let id, _) = try target.watch(
        "/k", recursive: false, stream: false, waitIndex: 0)
    else {
      Issue.record("expected a registered watcher")
      return
    }
    try target.restore(from: source.snapshot())
    _ = plainSet(target, "/k", at: epoch)
    #expect(target.takeNotifications().map(\.watcher) == [id])
  }

  @Test func rejectsDamagedSnapshots() {
    let store = V2Store()
    _ = plainSet(store, "/k", ttl: 5, at: epoch)
    let bytes = store.snapshot()
    let target = V2Store()
    #expect(throws: SnapshotError.notASnapshot) { try target.restore(from: [0, 1, 2, 3, 4]) }
    #expect(throws: SnapshotError.unsupportedVersion(9)) {
      try target.restore(from: Array(bytes[0..<4]) + [9] + Array(bytes[5...]))
    }
    for cut in [5, 20, bytes.count - 1] {
      #expect(throws: SnapshotError.truncated) { try target.restore(from: Array(bytes[0..<cut])) }
    }
    #expect(throws: SnapshotError.malformed("trailing bytes")) {
      try target.restore(from: bytes + [0])
    }
    #expect(target.currentIndex == 0 && target.nextExpiration == nil)
  }
}
