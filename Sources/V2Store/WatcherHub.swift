/// Identifies a registered watcher; the HTTP layer maps it to its connection.
public struct WatcherID: Hashable, Sendable {
  public let rawValue: UInt64

  public init(rawValue: UInt64) {
    self.rawValue = rawValue
  }
}

/// How a watch began.
public enum WatchStart: Equatable, Sendable {
  /// The history already held a matching event. As in etcd, the watcher is then done,
  /// even a stream one: the client re-watches from the next index.
  case event(Event)
  /// Registered; events arrive through `V2Store.takeNotifications()`. `startIndex` is
  /// the store index at registration, etcd's X-Etcd-Index for the watch response.
  case waiting(WatcherID, startIndex: UInt64)
}

/// One event to deliver to one watcher.
public struct WatchNotification: Equatable, Sendable {
  public var watcher: WatcherID
  public var event: Event
  /// The watcher was one-shot and is now unregistered.
  public var finished: Bool
}

/// Watchers indexed by the path they watch, plus the event history.
///
/// A watcher is a small record; a write looks up only the watchers at the event key's
/// ancestors (and, for removed directories, at every removed path), so fan-out costs
/// the number of interested watchers, not the number registered.
struct WatcherHub {
  struct Record {
    let key: String
    let recursive: Bool
    let stream: Bool
    let sinceIndex: UInt64
  }

  var history = EventHistory()
  private(set) var records: [WatcherID: Record] = [:]
  private var byPath: [RawKey: [WatcherID]] = [:]
  private var nextID: UInt64 = 1
  var outbox: [WatchNotification] = []

  var count: Int { records.count }

  /// etcd's `watcherHub.watch`; `sinceIndex` is already defaulted to current + 1.
  mutating func watch(
    key: String, recursive: Bool, stream: Bool, sinceIndex: UInt64, storeIndex: UInt64
  ) throws(V2Error) -> WatchStart {
    let past: Event?
    do {
      past = try history.scan(key: key, recursive: recursive, index: sinceIndex)
    } catch {
      var cleared = error
      cleared.index = storeIndex
      throw cleared
    }
    if var past {
      past.etcdIndex = storeIndex
      return .event(past)
    }
    let id = WatcherID(rawValue: nextID)
    nextID += 1
    records[id] = Record(key: key, recursive: recursive, stream: stream, sinceIndex: sinceIndex)
    byPath[RawKey(key), default: []].append(id)
    return .waiting(id, startIndex: storeIndex)
  }

  /// Unregisters a watcher; false when it was already gone.
  @discardableResult
  mutating func cancel(_ id: WatcherID) -> Bool {
    guard let record = records.removeValue(forKey: id) else { return false }
    let path = RawKey(record.key)
    byPath[path]?.removeAll { $0 == id }
    if byPath[path]?.isEmpty == true { byPath[path] = nil }
    return true
  }

  /// Records a refresh: it takes an index but wakes nobody.
  mutating func add(_ event: Event) {
    history.append(event)
  }

  /// etcd's `notify`: records the event, then wakes watchers at "/" and every
  /// ancestor of the key down to the key itself.
  mutating func notify(_ event: Event) {
    history.append(event)
    var path = "/"
    notifyWatchers(event, at: path, deleted: false)
    for component in KeyPath.components(event.node.key) {
      path = KeyPath.join(path, component)
      notifyWatchers(event, at: path, deleted: false)
    }
  }

  /// etcd's `notifyWatchers`. `deleted` marks a path removed with a directory: its
  /// watchers fire even when not recursive.
  mutating func notifyWatchers(_ event: Event, at path: String, deleted: Bool) {
    let key = RawKey(path)
    guard let ids = byPath[key] else { return }
    let original = event.node.key.utf8.elementsEqual(path.utf8)
    if !original && KeyPath.isHidden(watchPath: path, keyPath: event.node.key) { return }
    var remaining: [WatcherID] = []
    for id in ids {
      guard let record = records[id] else { continue }
      let interested =
        (record.recursive || original || deleted) && event.index >= record.sinceIndex
      if !interested {
        remaining.append(id)
        continue
      }
      outbox.append(WatchNotification(watcher: id, event: event, finished: !record.stream))
      if record.stream {
        remaining.append(id)
      } else {
        records[id] = nil
      }
    }
    byPath[key] = remaining.isEmpty ? nil : remaining
  }
}
