/// A PUT on /v2/keys, already parsed by the HTTP layer.
public struct SetRequest: Sendable {
  public var key: String
  public var value: String
  public var dir: Bool
  /// Seconds to live from the entry's time; nil (absent or `ttl=`) makes the node
  /// permanent, also removing an existing TTL.
  public var ttl: Int64?
  /// nil: no condition; false: create only; true: update only.
  public var prevExist: Bool?
  /// "" means no condition, as in etcd.
  public var prevValue: String
  /// 0 means no condition, as in etcd.
  public var prevIndex: UInt64
  /// Only push the TTL forward: keeps the value and notifies no watcher.
  public var refresh: Bool

  public init(
    key: String, value: String = "", dir: Bool = false, ttl: Int64? = nil,
    prevExist: Bool? = nil, prevValue: String = "", prevIndex: UInt64 = 0, refresh: Bool = false
  ) {
    self.key = key
    self.value = value
    self.dir = dir
    self.ttl = ttl
    self.prevExist = prevExist
    self.prevValue = prevValue
    self.prevIndex = prevIndex
    self.refresh = refresh
  }
}

extension V2Store {
  /// Applies a PUT the way etcd's v2 applier picks the store call: prevExist=true
  /// updates (or compares and swaps when prevValue/prevIndex are set), prevExist=false
  /// creates, a bare prevValue/prevIndex compares and swaps, anything else sets.
  /// Errors 211/212 for a refresh with a value or without a TTL come first, with
  /// index 0 as etcd reports these request errors.
  public func put(_ request: SetRequest, now: StoreTime) throws(V2Error) -> Event {
    if request.refresh {
      if !request.value.isEmpty {
        throw V2Error(.refreshValue, cause: "A value was provided on a refresh", index: 0)
      }
      if request.ttl == nil {
        throw V2Error(.refreshTTLRequired, cause: "No TTL value set", index: 0)
      }
    }
    let compares = request.prevIndex > 0 || !request.prevValue.isEmpty
    switch request.prevExist {
    case true? where compares, nil where compares:
      return try compareAndSwap(
        request.key, prevValue: request.prevValue, prevIndex: request.prevIndex,
        value: request.value, ttl: request.ttl, refresh: request.refresh, now: now)
    case true?:
      return try update(
        request.key, value: request.value, ttl: request.ttl, refresh: request.refresh, now: now)
    case false?:
      return try create(
        request.key, dir: request.dir, value: request.value, ttl: request.ttl, now: now)
    case nil:
      return try set(
        request.key, dir: request.dir, value: request.value, ttl: request.ttl,
        refresh: request.refresh, now: now)
    }
  }

  /// etcd's `Set`: creates or replaces a key (or creates a directory), creating missing
  /// parent directories. A refresh keeps the value but, like etcd, still replaces the
  /// node, so createdIndex moves. Errors: 100 (refresh of a missing key), 102 (an
  /// existing directory), 104, 107.
  public func set(
    _ key: String, dir: Bool, value: String, ttl: Int64?, refresh: Bool = false, now: StoreTime
  ) throws(V2Error) -> Event {
    do throws(V2Error) {
      let path = KeyPath.clean(key)
      let existing: Node?
      do throws(V2Error) {
        existing = try lookup(path)
      } catch {
        // A missing key is what set creates; anything else on the path is an error.
        if error.code != .keyNotFound || refresh { throw error }
        existing = nil
      }
      let event = try insert(
        path, dir: dir, value: refresh ? existing!.value : value,
        expiration: Self.expiration(ttl: ttl, now: now), replace: true, action: .set,
        refresh: refresh, now: now)
      counters.count(.set, success: true)
      return event
    } catch {
      counters.count(.set, success: false)
      throw error
    }
  }

  /// etcd's `Create`: fails with 105 when the key exists. Errors also 104, 107.
  public func create(
    _ key: String, dir: Bool, value: String, ttl: Int64?, now: StoreTime
  ) throws(V2Error) -> Event {
    try counted(.create) { () throws(V2Error) in
      try insert(
        KeyPath.clean(key), dir: dir, value: value,
        expiration: Self.expiration(ttl: ttl, now: now), replace: false, action: .create,
        refresh: false, now: now)
    }
  }

  /// A POST: creates `<dirKey>/<20-digit next store index>`, etcd's in-order key.
  public func createInOrder(
    _ dirKey: String, dir: Bool = false, value: String, ttl: Int64?, now: StoreTime
  ) throws(V2Error) -> Event {
    let digits = String(currentIndex + 1)
    let name = String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    return try create(
      KeyPath.clean(dirKey) + "/" + name, dir: dir, value: value, ttl: ttl, now: now)
  }

  /// etcd's `Update`: changes an existing key's value and TTL. On a directory only the
  /// TTL may change, and (as in etcd) its stored modifiedIndex stays put although the
  /// event reports the new index. Errors: 100, 102 (value for a directory), 104, 107.
  public func update(
    _ key: String, value: String, ttl: Int64?, refresh: Bool = false, now: StoreTime
  ) throws(V2Error) -> Event {
    try counted(.update, successOn: [.rootReadOnly, .notFile]) { () throws(V2Error) in
      let path = KeyPath.clean(key)
      try checkWritable(path)
      let node = try lookup(path)
      if node.isDir && !value.isEmpty {
        throw V2Error(.notFile, cause: path, index: currentIndex)
      }
      return rewrite(
        node, action: .update, value: refresh ? node.value : value,
        expiration: Self.expiration(ttl: ttl, now: now), refresh: refresh, now: now)
    }
  }

  /// etcd's `CompareAndSwap`: writes only when prevValue ("" = any) and prevIndex
  /// (0 = any) match. Errors: 100, 101 (cause "[prev != current]" per failed test),
  /// 102, 104, 107.
  public func compareAndSwap(
    _ key: String, prevValue: String, prevIndex: UInt64, value: String, ttl: Int64?,
    refresh: Bool = false, now: StoreTime
  ) throws(V2Error) -> Event {
    try counted(.compareAndSwap, successOn: [.rootReadOnly]) { () throws(V2Error) in
      let path = KeyPath.clean(key)
      try checkWritable(path)
      let node = try lookup(path)
      if node.isDir { throw V2Error(.notFile, cause: path, index: currentIndex) }
      try compare(node, prevValue: prevValue, prevIndex: prevIndex)
      return rewrite(
        node, action: .compareAndSwap, value: refresh ? node.value : value,
        expiration: Self.expiration(ttl: ttl, now: now), refresh: refresh, now: now)
    }
  }

  /// etcd's compare with its exact failure causes.
  func compare(_ node: Node, prevValue: String, prevIndex: UInt64) throws(V2Error) {
    let indexMatch = prevIndex == 0 || node.modifiedIndex == prevIndex
    let valueMatch = prevValue.isEmpty || node.value.utf8.elementsEqual(prevValue.utf8)
    let valueCause = "[\(prevValue) != \(node.value)]"
    let indexCause = "[\(prevIndex) != \(node.modifiedIndex)]"
    let cause: String
    switch (valueMatch, indexMatch) {
    case (true, true): return
    case (false, true): cause = valueCause
    case (true, false): cause = indexCause
    case (false, false): cause = valueCause + " " + indexCause
    }
    throw V2Error(.testFailed, cause: cause, index: currentIndex)
  }

  /// Runs an operation and counts it for /v2/stats/store. etcd counts some errors as
  /// successes (its deferred counter misses errors returned without assigning `err`);
  /// `successOn` lists those codes, as measured on etcd 3.4.23.
  func counted(
    _ action: Action, successOn quirks: Set<V2ErrorCode> = [],
    _ body: () throws(V2Error) -> Event
  ) throws(V2Error) -> Event {
    do throws(V2Error) {
      let event = try body()
      counters.count(action, success: true)
      return event
    } catch {
      counters.count(action, success: quirks.contains(error.code))
      throw error
    }
  }

  /// Publishes a write: a refresh only takes its place in the history.
  func publish(_ event: Event) {
    if event.refresh { hub.add(event) } else { hub.notify(event) }
  }

  /// etcd's `internalCreate`: walks to the parent creating directories, then adds the
  /// node, replacing an existing key when `replace`.
  private func insert(
    _ path: String, dir: Bool, value: String, expiration: StoreTime?, replace: Bool,
    action: Action, refresh: Bool, now: StoreTime
  ) throws(V2Error) -> Event {
    try checkWritable(path)
    let index = currentIndex + 1
    var components = KeyPath.components(path)
    let name = RawKey(components.removeLast())
    var parent = root
    for component in components {
      if let child = parent.children![RawKey(component)] {
        guard child.isDir else {
          // etcd's internalCreate counts a failed walk as a failed set, whatever the op.
          counters.count(.set, success: false)
          throw V2Error(.notDir, cause: child.path, index: currentIndex)
        }
        parent = child
      } else {
        let child = Node(
          path: KeyPath.join(parent.path, component), value: "", isDir: true,
          createdIndex: index, modifiedIndex: index, expiration: nil, parent: parent)
        parent.children![RawKey(component)] = child
        parent = child
      }
    }
    var prevNode: NodeView?
    if let existing = parent.children![name] {
      if !replace { throw V2Error(.nodeExist, cause: path, index: currentIndex) }
      if existing.isDir { throw V2Error(.notFile, cause: path, index: currentIndex) }
      prevNode = existing.view(recursive: false, now: now)
      detach(existing, event: nil)
    }
    let node = Node(
      path: path, value: dir ? "" : value, isDir: dir, createdIndex: index, modifiedIndex: index,
      expiration: expiration, parent: parent)
    parent.children![name] = node
    if expiration != nil { ttlHeap.insert(node) }
    currentIndex = index
    let event = Event(
      action: action, node: node.view(recursive: false, now: now), prevNode: prevNode,
      etcdIndex: index, refresh: refresh)
    publish(event)
    return event
  }

  /// The shared tail of update and compareAndSwap: new value, TTL and index.
  private func rewrite(
    _ node: Node, action: Action, value: String, expiration: StoreTime?, refresh: Bool,
    now: StoreTime
  ) -> Event {
    currentIndex += 1
    let prevNode = node.view(recursive: false, now: now)
    if !node.isDir {
      node.value = value
      node.modifiedIndex = currentIndex
    }
    setExpiration(node, expiration)
    var view = node.view(recursive: false, now: now)
    view.modifiedIndex = currentIndex
    let event = Event(
      action: action, node: view, prevNode: prevNode, etcdIndex: currentIndex, refresh: refresh)
    publish(event)
    return event
  }
}
