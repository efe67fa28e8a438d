/// etcd's v2 store as a deterministic state machine.
///
/// Overview: a tree of directories and keys under "/", each node carrying the
/// createdIndex and modifiedIndex of the writes that made and last changed it, and an
/// optional absolute expiration. Every successful write (set, create, update,
/// compareAndSwap, delete, compareAndDelete, each expired node, each TTL refresh)
/// advances `currentIndex` by exactly one and appends one event to a 1000-event
/// history that watches can start from.
///
/// Indexes: like etcd, the store keeps its own index, separate from the raft index.
/// etcd's X-Etcd-Index differs from X-Raft-Index (v3 and internal entries do not
/// advance the v2 store), in-order keys are named after the store index, and each
/// node removed by one expiry entry gets its own index. Members stay identical
/// because they apply the same writes in the same order.
///
/// Time: nothing reads a clock. Writes take the leader's `now` from the raft entry;
/// expirations are `now + ttl`; `expire(now:)` removes what is due. Reads take the
/// member's own `now`, which only affects the `ttl` they report.
///
/// Watchers are records in a hub; writes queue notifications that the caller drains
/// with `takeNotifications()` after each apply.
///
/// Caveats: listings are always in byte order of the key (etcd lists in Go's random
/// map order unless sorted=true); the HTTP layer owns parameter parsing (codes 2xx),
/// the "/1" keys namespace prefix it trims from responses, and slow-watcher eviction.
/// Not thread-safe: one owner (the event loop) calls it.
public final class V2Store {
  let root: Node
  /// The index of the last write. Invariant: equals the newest history event's index.
  public internal(set) var currentIndex: UInt64 = 0
  /// "/" and the namespaces given at creation, which no write may touch.
  let readOnly: Set<RawKey>
  var ttlHeap = TTLHeap()
  var hub = WatcherHub()
  var counters = StoreStats()

  /// A store with an empty root and, as etcd's `New(namespaces...)`, one permanent
  /// read-only directory per namespace (etcd uses "/0" for members, "/1" for keys).
  public init(namespaces: [String] = []) {
    root = Node(
      path: "/", value: "", isDir: true, createdIndex: 0, modifiedIndex: 0, expiration: nil,
      parent: nil)
    var readOnly: Set<RawKey> = [RawKey("/")]
    for namespace in namespaces {
      let path = KeyPath.clean(namespace)
      readOnly.insert(RawKey(path))
      let node = Node(
        path: path, value: "", isDir: true, createdIndex: 0, modifiedIndex: 0, expiration: nil,
        parent: root)
      root.children![node.name] = node
    }
    self.readOnly = readOnly
  }

  /// Counters for /v2/stats/store.
  public var stats: StoreStats {
    var stats = counters
    stats.watchers = UInt64(hub.count)
    return stats
  }

  /// When the earliest TTL node expires; the leader proposes an expiry entry with its
  /// time once that passes (etcd syncs every 500 ms while any TTL node exists).
  public var nextExpiration: StoreTime? { ttlHeap.top?.expiration }

  /// etcd's `Get`: the node at `key`; a directory lists its children, the whole
  /// subtree when `recursive`. Errors: 100 (cause: the first missing path), 104.
  public func get(_ key: String, recursive: Bool, now: StoreTime) throws(V2Error) -> Event {
    do throws(V2Error) {
      let node = try lookup(KeyPath.clean(key))
      counters.count(.get, success: true)
      return Event(
        action: .get, node: node.listing(recursive: recursive, now: now), etcdIndex: currentIndex)
    } catch {
      counters.count(.get, success: false)
      throw error
    }
  }

  /// Whether `key` exists; unlike `get` it leaves the statistics alone, for
  /// bookkeeping that etcd does without reading the store.
  public func contains(_ key: String) -> Bool {
    (try? lookup(KeyPath.clean(key))) != nil
  }

  /// etcd's `Watch`: `waitIndex` 0 means the next write. Returns a past event at once
  /// when the history holds one at or after `waitIndex`, else registers a watcher.
  /// Errors: 401 when `waitIndex` is older than the history.
  public func watch(
    _ key: String, recursive: Bool, stream: Bool, waitIndex: UInt64
  ) throws(V2Error) -> WatchStart {
    try hub.watch(
      key: KeyPath.clean(key), recursive: recursive, stream: stream,
      sinceIndex: waitIndex == 0 ? currentIndex + 1 : waitIndex, storeIndex: currentIndex)
  }

  /// Unregisters a watcher (client gone); false when it had already finished.
  @discardableResult
  public func cancelWatch(_ id: WatcherID) -> Bool {
    hub.cancel(id)
  }

  /// The notifications queued by writes since the last call, in delivery order. A
  /// stream watcher may receive the same event twice when it watches a removed
  /// directory, exactly as etcd delivers it.
  public func takeNotifications() -> [WatchNotification] {
    defer { hub.outbox.removeAll(keepingCapacity: true) }
    return hub.outbox
  }

  /// etcd's `internalGet`: walks a cleaned path. 104 names the key found where a
  /// directory was needed; 100 names the first missing path.
  func lookup(_ cleaned: String) throws(V2Error) -> Node {
    var node = root
    for component in KeyPath.components(cleaned) {
      guard let children = node.children else {
        throw V2Error(.notDir, cause: node.path, index: currentIndex)
      }
      guard let child = children[RawKey(component)] else {
        throw V2Error(
          .keyNotFound, cause: KeyPath.join(node.path, component), index: currentIndex)
      }
      node = child
    }
    return node
  }

  func checkWritable(_ cleaned: String) throws(V2Error) {
    if readOnly.contains(RawKey(cleaned)) {
      throw V2Error(.rootReadOnly, cause: "/", index: currentIndex)
    }
  }

  /// `now + ttl`, or nil for permanent; etcd also treats pre-2000 times as permanent.
  static func expiration(ttl: Int64?, now: StoreTime) -> StoreTime? {
    guard let ttl else { return nil }
    let time = now.adding(seconds: ttl)
    return time < StoreTime.minimumExpiration ? nil : time
  }

  /// Sets a node's expiration and keeps the TTL heap in step.
  func setExpiration(_ node: Node, _ expiration: StoreTime?) {
    node.expiration = expiration
    ttlHeap.update(node)
  }
}
