import Testing
import V2Store

@Suite struct WatchTests {
  private func register(
    _ store: V2Store, _ key: String, recursive: Bool = false, stream: Bool = false,
    waitIndex: UInt64 = 0
  ) -> WatcherID {
    guard
      case .waiting(let id, _) = try! store.watch(
        key, recursive: recursive, stream: stream, waitIndex: waitIndex)
    else {
      Issue.record("watch on \(key) answered from history")
      return WatcherID(rawValue: 0)
    }
    return id
  }

  /// Recorded on etcd 3.4.23: deleting /pd recursively woke a one-shot and a stream
  /// watcher on /pd/x once each, and a recursive stream watcher on /pd twice.
  @Test func removedDirectoryNotifiesChildWatchers() {
    let h = Harness()
    _ = h.put("/pd/x", "1")
    let oneShot = register(h.store, "/1/pd/x")
    let childStream = register(h.store, "/1/pd/x", stream: true)
    let parentStream = register(h.store, "/1/pd", recursive: true, stream: true)
    let expected =
      #"{"action":"delete","node":{"key":"/pd","dir":true,"modifiedIndex":5,"createdIndex":4},"prevNode":{"key":"/pd","dir":true,"modifiedIndex":4,"createdIndex":4}}"#
    #expect(h.delete("/pd", recursive: true) == expected)
    let notes = h.store.takeNotifications()
    #expect(notes.map(\.watcher) == [oneShot, childStream, parentStream, parentStream])
    #expect(notes.map(\.finished) == [true, false, false, false])
    #expect(notes.allSatisfy { V2JSON.encode($0.event, trimmingPrefix: "/1") == expected })
    #expect(h.store.stats.watchers == 2)
  }

  /// Recorded: a recursive stream watch on / saw neither the refresh nor hidden keys,
  /// and got etcd's expire event shape.
  @Test func hiddenKeysAndRefreshesAreNotDelivered() throws {
    let h = Harness()
    let all = register(h.store, "/1", recursive: true, stream: true)
    let onR = register(h.store, "/1/r", stream: true)
    _ = h.put("/r", "1", ttl: 100)
    _ = h.put("/r", ttl: 100, refresh: true)
    _ = h.put("/_h", "1")
    _ = h.put("/hd/_h", "1")
    h.at(nanos: 791_884_143)
    _ = h.put("/e", "1", ttl: 1)
    let set = h.store.takeNotifications()
    #expect(set.map(\.watcher) == [all, onR, all])
    #expect(set.map(\.event.index) == [4, 4, 8])
    h.at(nanos: 1_900_000_000)
    #expect(h.store.expire(now: h.now).count == 1)
    let expired = h.store.takeNotifications()
    try #require(expired.map(\.watcher) == [all])
    #expect(
      V2JSON.encode(expired[0].event, trimmingPrefix: "/1")
        == #"{"action":"expire","node":{"key":"/e","modifiedIndex":9,"createdIndex":8},"prevNode":{"key":"/e","value":"1","expiration":"2026-11-22T03:14:33.791884143Z","modifiedIndex":8,"createdIndex":8}}"#
    )
  }

  /// Recorded: after 1052 writes on a fresh etcd, waitIndex 8 is gone.
  @Test func historyKeepsTheLastThousandEvents() {
    let h = Harness()
    for i in 1...1052 { _ = h.put("/loop", String(i)) }
    #expect(h.store.currentIndex == 1055)
    do {
      _ = try h.store.watch("/1/loop", recursive: false, stream: false, waitIndex: 8)
      Issue.record("waitIndex 8 should be cleared")
    } catch {
      #expect(
        V2JSON.encode(error)
          == #"{"errorCode":401,"message":"The event in requested index is outdated and cleared","cause":"the requested history has been cleared [56/8]","index":1055}"#
      )
      #expect(error.httpStatus == 400)
    }
    guard
      case .event(let event) = try! h.store.watch(
        "/1/loop", recursive: false, stream: false, waitIndex: 56)
    else {
      Issue.record("index 56 is in the history")
      return
    }
    #expect(event.index == 56)
    #expect(event.etcdIndex == 1055)
  }

  @Test func pastEventEndsEvenAStreamWatch() {
    let store = V2Store()
    _ = plainSet(store, "/a", at: epoch)
    let start = try! store.watch("/a", recursive: false, stream: true, waitIndex: 1)
    guard case .event(let event) = start else {
      Issue.record("expected history hit")
      return
    }
    #expect(event.action == .set)
    #expect(store.stats.watchers == 0)
  }

  @Test func recursiveOnlyForDescendants() {
    let store = V2Store()
    let flat = register(store, "/d")
    let deep = register(store, "/d", recursive: true)
    _ = plainSet(store, "/d/x", at: epoch)
    #expect(store.takeNotifications().map(\.watcher) == [deep])
    _ = try! store.update("/d", value: "", ttl: nil, now: epoch)
    #expect(store.takeNotifications().map(\.watcher) == [flat])
    // A watch on "/foo" is not a prefix watch on "/foobar".
    let foo = register(store, "/foo", recursive: true)
    _ = plainSet(store, "/foobar", at: epoch)
    #expect(store.takeNotifications().isEmpty)
    #expect(store.cancelWatch(foo))
  }

  @Test func oneShotLeavesStreamStays() {
    let store = V2Store()
    let once = register(store, "/k")
    let stream = register(store, "/k", stream: true)
    #expect(store.stats.watchers == 2)
    _ = plainSet(store, "/k", at: epoch)
    _ = plainSet(store, "/k", at: epoch)
    #expect(store.takeNotifications().map(\.watcher) == [once, stream, stream])
    #expect(store.stats.watchers == 1)
  }

  @Test func startIndexAndFutureWaitIndex() {
    let store = V2Store()
    _ = plainSet(store, "/k", at: epoch)
    let start = try! store.watch("/k", recursive: false, stream: false, waitIndex: 0)
    #expect(start == .waiting(WatcherID(rawValue: 1), startIndex: 1))
    let later = register(store, "/k", waitIndex: 3)
    _ = plainSet(store, "/k", at: epoch)
    #expect(store.takeNotifications().map(\.watcher) == [WatcherID(rawValue: 1)])
    _ = plainSet(store, "/k", at: epoch)
    #expect(store.takeNotifications().map(\.watcher) == [later])
  }

  @Test func cancelledWatcherHearsNothing() {
    let store = V2Store()
    let id = register(store, "/k", stream: true)
    #expect(store.cancelWatch(id))
    #expect(!store.cancelWatch(id))
    _ = plainSet(store, "/k", at: epoch)
    #expect(store.takeNotifications().isEmpty)
    #expect(store.stats.watchers == 0)
  }

  @Test func historyMatchesChildOfDeletedDirectory() {
    let store = V2Store()
    _ = plainSet(store, "/dir/child", at: epoch)
    _ = try! store.delete("/dir", dir: true, recursive: true, now: epoch)
    guard
      case .event(let event) = try! store.watch(
        "/dir/child", recursive: false, stream: false, waitIndex: 2)
    else {
      Issue.record("expected the directory delete")
      return
    }
    #expect(event.action == .delete)
    #expect(event.node.key == "/dir")
  }

  /// One write reaches 5,000 watchers on its key without touching 5,000 others.
  @Test func fiveThousandWatchersOneWrite() {
    let store = V2Store()
    var interested: Set<WatcherID> = []
    for i in 0..<5000 {
      interested.insert(register(store, "/hot"))
      _ = register(store, "/cold/\(i)")
    }
    let clock = ContinuousClock()
    let elapsed = clock.measure {
      _ = plainSet(store, "/hot", at: epoch)
    }
    let notes = store.takeNotifications()
    #expect(Set(notes.map(\.watcher)) == interested)
    #expect(notes.count == 5000)
    #expect(store.stats.watchers == 5000)
    // Generous bound: catches an accidental scan of every watcher per write, not jitter.
    #expect(elapsed < .seconds(1))
  }
}
