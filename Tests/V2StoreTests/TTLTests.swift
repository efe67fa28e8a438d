import Testing
import V2Store

@Suite struct TTLTests {
  private func ttl(_ store: V2Store, _ key: String, at now: StoreTime) -> Int64 {
    try! store.get(key, recursive: false, now: now).node.ttl
  }

  /// ttl = ceil(seconds left), as etcd's expirationAndTTL; 0 once due.
  @Test func ttlRoundsUp() {
    let store = V2Store()
    _ = plainSet(store, "/k", ttl: 10, at: epoch)
    let ms: Int64 = 1_000_000
    let cases: [(Int64, Int64)] = [
      (0, 10), (500, 10), (1000, 9), (9_999, 1), (10_000, 0), (11_500, -1),
    ]
    for (elapsed, expected) in cases {
      let now = StoreTime(nanosecondsSinceEpoch: epoch.nanosecondsSinceEpoch + elapsed * ms)
      #expect(ttl(store, "/k", at: now) == expected, "after \(elapsed) ms")
    }
    #expect(store.nextExpiration == epoch.adding(seconds: 10))
  }

  /// Each due node expires under its own index, earliest first; children of an expired
  /// directory leave with it, waking their watchers but producing no event of their own.
  @Test func expireOrderIndexesAndChildren() throws {
    let store = V2Store()
    _ = plainSet(store, "/a", ttl: 5, at: epoch)
    _ = plainSet(store, "/b", ttl: 3, at: epoch)
    _ = try store.set("/d", dir: true, value: "", ttl: 4, now: epoch)
    _ = plainSet(store, "/d/c", ttl: 10, at: epoch)
    guard
      case .waiting(let childWatcher, _) = try store.watch(
        "/d/c", recursive: false, stream: false, waitIndex: 0)
    else {
      Issue.record("expected a registered watcher")
      return
    }
    #expect(store.expire(now: epoch.adding(seconds: 2)).isEmpty)
    let events = store.expire(now: epoch.adding(seconds: 4))
    #expect(events.map(\.action) == [.expire, .expire])
    #expect(events.map(\.node.key) == ["/b", "/d"])
    #expect(events.map(\.index) == [5, 6])
    #expect(events[1].node.dir && events[1].prevNode?.dir == true)
    #expect(store.takeNotifications().map(\.watcher) == [childWatcher])
    #expect(store.nextExpiration == epoch.adding(seconds: 5))
    #expect(store.stats.expireCount == 2)
    #expect(throws: V2Error(.keyNotFound, cause: "/d", index: 6)) {
      try store.get("/d/c", recursive: false, now: epoch)
    }
    #expect(store.expire(now: epoch.adding(seconds: 100)).map(\.node.key) == ["/a"])
    #expect(store.nextExpiration == nil)
  }

  /// Equal expirations leave in byte order of the key on every member.
  @Test func tiesExpireInKeyOrder() {
    let store = V2Store()
    for key in ["/z", "/a", "/m"] { _ = plainSet(store, key, ttl: 1, at: epoch) }
    #expect(store.expire(now: epoch.adding(seconds: 1)).map(\.node.key) == ["/a", "/m", "/z"])
  }

  @Test func updateWithoutTTLMakesPermanent() throws {
    let store = V2Store()
    _ = plainSet(store, "/k", ttl: 5, at: epoch)
    let event = try store.update("/k", value: "w", ttl: nil, now: epoch)
    #expect(event.node.expiration == nil && event.prevNode?.ttl == 5)
    #expect(store.nextExpiration == nil)
    #expect(store.expire(now: epoch.adding(seconds: 60)).isEmpty)
  }

  /// A refresh moves the expiration, takes an index, and wakes no watcher.
  @Test func refreshIsSilent() throws {
    let store = V2Store()
    _ = plainSet(store, "/k", "v", ttl: 5, at: epoch)
    _ = try store.watch("/k", recursive: false, stream: true, waitIndex: 0)
    let event = try store.put(SetRequest(key: "/k", ttl: 50, refresh: true), now: epoch)
    #expect(event.node.value == "v" && event.node.ttl == 50 && event.index == 2)
    #expect(store.takeNotifications().isEmpty)
    #expect(store.expire(now: epoch.adding(seconds: 10)).isEmpty)
    #expect(store.nextExpiration == epoch.adding(seconds: 50))
  }

  @Test func directoryTTLUpdateKeepsStoredIndex() throws {
    let store = V2Store()
    _ = try store.set("/d", dir: true, value: "", ttl: nil, now: epoch)
    let event = try store.update("/d", value: "", ttl: 30, now: epoch)
    #expect(event.node.modifiedIndex == 2 && event.node.ttl == 30)
    // etcd's node.Write refuses directories, so the stored index stays at creation.
    #expect(try store.get("/d", recursive: false, now: epoch).node.modifiedIndex == 1)
  }

  /// Replaced and deleted nodes leave the TTL heap; nothing expires twice.
  @Test func replacedAndDeletedNodesDoNotExpire() throws {
    let store = V2Store()
    _ = plainSet(store, "/k", ttl: 5, at: epoch)
    _ = plainSet(store, "/k", at: epoch)
    _ = try store.set("/d", dir: true, value: "", ttl: 5, now: epoch)
    _ = plainSet(store, "/d/c", ttl: 3, at: epoch)
    _ = try store.delete("/d", dir: true, recursive: true, now: epoch)
    #expect(store.nextExpiration == nil)
    #expect(store.expire(now: epoch.adding(seconds: 10)).isEmpty)
  }
}
