/// A DELETE on /v2/keys, already parsed by the HTTP layer.
public struct DeleteRequest: Sendable {
  public var key: String
  public var dir: Bool
  public var recursive: Bool
  /// "" means no condition, as in etcd.
  public var prevValue: String
  /// 0 means no condition, as in etcd.
  public var prevIndex: UInt64

  public init(
    key: String, dir: Bool = false, recursive: Bool = false, prevValue: String = "",
    prevIndex: UInt64 = 0
  ) {
    self.key = key
    self.dir = dir
    self.recursive = recursive
    self.prevValue = prevValue
    self.prevIndex = prevIndex
  }
}

extension V2Store {
  /// Applies a DELETE as etcd's v2 applier does: compareAndDelete when prevValue or
  /// prevIndex is set, delete otherwise.
  public func delete(_ request: DeleteRequest, now: StoreTime) throws(V2Error) -> Event {
    if request.prevIndex > 0 || !request.prevValue.isEmpty {
      return try compareAndDelete(
        request.key, prevValue: request.prevValue, prevIndex: request.prevIndex, now: now)
    }
    return try delete(request.key, dir: request.dir, recursive: request.recursive, now: now)
  }

  /// etcd's `Delete`: removes a key, an empty directory (`dir`), or a whole subtree
  /// (`recursive`, which implies `dir`). Watchers of every removed path fire.
  /// Errors: 100, 102 (a directory without dir), 104, 107, 108 (not empty).
  public func delete(
    _ key: String, dir: Bool, recursive: Bool, now: StoreTime
  ) throws(V2Error) -> Event {
    try counted(.delete, successOn: [.rootReadOnly]) { () throws(V2Error) in
      let path = KeyPath.clean(key)
      try checkWritable(path)
      let node = try lookup(path)
      if node.isDir {
        if !dir && !recursive { throw V2Error(.notFile, cause: path, index: currentIndex) }
        if !recursive && !(node.children ?? [:]).isEmpty {
          throw V2Error(.dirNotEmpty, cause: path, index: currentIndex)
        }
      }
      return remove(node, action: .delete, now: now)
    }
  }

  /// etcd's `CompareAndDelete`: removes a key only when prevValue ("" = any) and
  /// prevIndex (0 = any) match. Errors: 100, 101, 102 (directories never), 104.
  public func compareAndDelete(
    _ key: String, prevValue: String, prevIndex: UInt64, now: StoreTime
  ) throws(V2Error) -> Event {
    try counted(.compareAndDelete, successOn: [.notFile, .testFailed]) { () throws(V2Error) in
      let path = KeyPath.clean(key)
      let node = try lookup(path)
      if node.isDir { throw V2Error(.notFile, cause: path, index: currentIndex) }
      try compare(node, prevValue: prevValue, prevIndex: prevIndex)
      return remove(node, action: .compareAndDelete, now: now)
    }
  }

  /// etcd's `DeleteExpiredKeys`: removes every node whose expiration is at or before
  /// `now` (the leader's time in the expiry entry), earliest first, one index and one
  /// "expire" event each. Children of an expired directory go with it silently, except
  /// that their watchers fire.
  public func expire(now: StoreTime) -> [Event] {
    var events: [Event] = []
    while let node = ttlHeap.top, let expiration = node.expiration, expiration <= now {
      events.append(remove(node, action: .expire, now: now))
      counters.count(.expire, success: true)
    }
    return events
  }

  /// Takes `node` and its subtree out of the tree under the next index and publishes
  /// the event, whose `node` carries no value (as etcd's).
  private func remove(_ node: Node, action: Action, now: StoreTime) -> Event {
    let index = currentIndex + 1
    let event = Event(
      action: action,
      node: NodeView(
        key: node.path, dir: node.isDir, modifiedIndex: index, createdIndex: node.createdIndex),
      prevNode: node.view(recursive: false, now: now), etcdIndex: index)
    detach(node, event: event)
    currentIndex = index
    hub.notify(event)
    return event
  }

  /// Unlinks a subtree, children before parents, and tells the watchers of each
  /// removed path (etcd's remove callback) when `event` is given.
  func detach(_ node: Node, event: Event?) {
    for child in node.sortedChildren {
      detach(child, event: event)
    }
    node.parent?.children?[node.name] = nil
    if let event {
      hub.notifyWatchers(event, at: node.path, deleted: true)
    }
    ttlHeap.remove(node)
  }
}
