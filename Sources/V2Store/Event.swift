/// What a v2 operation did, named as etcd names it in the `action` field.
public enum Action: String, Sendable, CaseIterable {
  case get
  case set
  case create
  case update
  case delete
  case compareAndSwap
  case compareAndDelete
  case expire
}

/// The result of an operation, and what watchers receive.
public struct Event: Equatable, Sendable {
  public var action: Action
  public var node: NodeView
  public var prevNode: NodeView?
  /// The store's current index to report as X-Etcd-Index (not part of the JSON body).
  public var etcdIndex: UInt64
  /// A TTL refresh: kept in the history for index continuity but never delivered.
  public var refresh: Bool

  public init(
    action: Action, node: NodeView, prevNode: NodeView? = nil, etcdIndex: UInt64,
    refresh: Bool = false
  ) {
    self.action = action
    self.node = node
    self.prevNode = prevNode
    self.etcdIndex = etcdIndex
    self.refresh = refresh
  }

  /// The index that orders events: the node's modifiedIndex.
  public var index: UInt64 { node.modifiedIndex }
}

/// The last `capacity` write events, for watches that start in the past.
///
/// Invariant: stored events have consecutive indexes (every write bumps the store
/// index by exactly one and lands here), so an index maps to a ring offset.
struct EventHistory {
  /// etcd keeps the last 1000 events (newEventHistory(1000)).
  let capacity = 1000
  private(set) var events: [Event] = []
  private var front = 0

  var startIndex: UInt64 { events.isEmpty ? 0 : events[front].index }
  var lastIndex: UInt64 { events.isEmpty ? 0 : events[(front + events.count - 1) % capacity].index }

  /// Events oldest first, for snapshots.
  var ordered: [Event] {
    (0..<events.count).map { events[(front + $0) % capacity] }
  }

  mutating func append(_ event: Event) {
    precondition(
      events.isEmpty || event.index == lastIndex + 1,
      "history index \(event.index) does not follow \(lastIndex)")
    if events.count < capacity {
      events.append(event)
    } else {
      events[front] = event
      front = (front + 1) % capacity
    }
  }

  /// etcd's `EventHistory.scan`: the first non-refresh event at or after `index` that
  /// concerns `key`; nil when none yet; 401 when `index` fell out of the history.
  func scan(key: String, recursive: Bool, index: UInt64) throws(V2Error) -> Event? {
    if index < startIndex {
      throw V2Error(
        .eventIndexCleared,
        cause: "the requested history has been cleared [\(startIndex)/\(index)]", index: 0)
    }
    if index > lastIndex { return nil }
    // index >= startIndex and <= lastIndex, and indexes are consecutive.
    let first = Int(index - startIndex)
    let prefix = key.hasSuffix("/") ? key : key + "/"
    for offset in first..<events.count {
      let event = events[(front + offset) % capacity]
      if event.refresh { continue }
      var matches = event.node.key.utf8.elementsEqual(key.utf8)
      if recursive && event.node.key.hasBytePrefix(prefix) { matches = true }
      // A removed directory concerns everything below it. etcd tests the raw prefix
      // without a trailing "/", so "/foo" also matches a watch on "/foobar".
      if event.action == .delete || event.action == .expire, let prev = event.prevNode,
        prev.dir, key.hasBytePrefix(prev.key)
      {
        matches = true
      }
      if matches { return event }
    }
    return nil
  }
}
