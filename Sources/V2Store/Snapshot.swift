/// Why a snapshot could not be restored; the store is left unchanged.
public enum SnapshotError: Error, Equatable, Sendable {
  /// The bytes do not start with the v2 snapshot magic.
  case notASnapshot
  /// Written by a format version this build does not read.
  case unsupportedVersion(UInt8)
  /// The bytes end in the middle of a record.
  case truncated
  /// A record holds an impossible value.
  case malformed(String)
}

/// Snapshot format, all integers little-endian:
/// "SV2S", version 1, currentIndex u64, the root subtree, then the history.
/// A node: flags u8 (1 dir, 2 expiring), path, createdIndex u64, modifiedIndex u64,
/// [expiration i64], then a value (key) or a u32 child count and the children in byte
/// order (directory). An event: action, node view, [prev view], refresh u8.
/// Strings are a u32 byte count and UTF-8. Children are written sorted, so equal
/// stores give equal bytes.
extension V2Store {
  private static let magic: [UInt8] = Array("SV2S".utf8)
  private static let version: UInt8 = 1

  /// The whole replicated state (nodes, expirations, index and event history); stats
  /// and watchers are member-local and left out.
  public func snapshot() -> [UInt8] {
    var writer = SnapshotWriter()
    writer.bytes += Self.magic
    writer.bytes.append(Self.version)
    writer.u64(currentIndex)
    writer.node(root)
    let events = hub.history.ordered
    writer.u32(UInt32(events.count))
    for event in events { writer.event(event) }
    return writer.bytes
  }

  /// Replaces the state with a snapshot's. Registered watchers stay registered, as in
  /// etcd, and see only later writes.
  public func restore(from bytes: [UInt8]) throws(SnapshotError) {
    var reader = SnapshotReader(bytes: bytes)
    guard try reader.take(Self.magic.count).elementsEqual(Self.magic) else { throw .notASnapshot }
    let version = try reader.u8()
    guard version == Self.version else { throw .unsupportedVersion(version) }
    let index = try reader.u64()
    let newRoot = try reader.node(parent: nil)
    guard newRoot.isDir, newRoot.path == "/" else { throw .malformed("root is not \"/\"") }
    var history = EventHistory()
    for _ in 0..<(try reader.u32()) {
      let event = try reader.event()
      guard history.events.isEmpty || event.index == history.lastIndex + 1 else {
        throw .malformed("history index \(event.index) after \(history.lastIndex)")
      }
      history.append(event)
    }
    guard reader.isAtEnd else { throw .malformed("trailing bytes") }
    guard history.events.isEmpty || history.lastIndex == index else {
      throw .malformed("history ends at \(history.lastIndex), store index is \(index)")
    }

    var heap = TTLHeap()
    var pending = [newRoot]
    while let node = pending.popLast() {
      pending += node.sortedChildren
      if node.expiration != nil { heap.insert(node) }
    }
    for child in newRoot.children!.values { child.parent = root }
    root.children = newRoot.children
    ttlHeap = heap
    hub.history = history
    currentIndex = index
  }
}

private struct SnapshotWriter {
  var bytes: [UInt8] = []

  mutating func u32(_ value: UInt32) {
    withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
  }

  mutating func u64(_ value: UInt64) {
    withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
  }

  mutating func string(_ value: String) {
    u32(UInt32(value.utf8.count))
    bytes += value.utf8
  }

  mutating func node(_ node: Node) {
    bytes.append((node.isDir ? 1 : 0) | (node.expiration != nil ? 2 : 0))
    string(node.path)
    u64(node.createdIndex)
    u64(node.modifiedIndex)
    if let expiration = node.expiration {
      u64(UInt64(bitPattern: expiration.nanosecondsSinceEpoch))
    }
    if node.isDir {
      let children = node.sortedChildren
      u32(UInt32(children.count))
      for child in children { self.node(child) }
    } else {
      string(node.value)
    }
  }

  mutating func view(_ view: NodeView) {
    bytes.append(
      (view.dir ? 1 : 0) | (view.expiration != nil ? 2 : 0) | (view.value != nil ? 4 : 0))
    string(view.key)
    if let value = view.value { string(value) }
    if let expiration = view.expiration {
      u64(UInt64(bitPattern: expiration.nanosecondsSinceEpoch))
    }
    u64(UInt64(bitPattern: view.ttl))
    u32(UInt32(view.nodes.count))
    for child in view.nodes { self.view(child) }
    u64(view.modifiedIndex)
    u64(view.createdIndex)
  }

  mutating func event(_ event: Event) {
    string(event.action.rawValue)
    view(event.node)
    bytes.append(event.prevNode == nil ? 0 : 1)
    if let prev = event.prevNode { view(prev) }
    bytes.append(event.refresh ? 1 : 0)
  }
}

private struct SnapshotReader {
  let bytes: [UInt8]
  var position = 0

  var isAtEnd: Bool { position == bytes.count }

  mutating func take(_ count: Int) throws(SnapshotError) -> ArraySlice<UInt8> {
    guard count >= 0, bytes.count - position >= count else { throw .truncated }
    defer { position += count }
    return bytes[position..<(position + count)]
  }

  mutating func u8() throws(SnapshotError) -> UInt8 {
    try take(1).first!
  }

  mutating func u32() throws(SnapshotError) -> UInt32 {
    try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) }
  }

  mutating func u64() throws(SnapshotError) -> UInt64 {
    try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) }
  }

  mutating func time() throws(SnapshotError) -> StoreTime {
    StoreTime(nanosecondsSinceEpoch: Int64(bitPattern: try u64()))
  }

  mutating func string() throws(SnapshotError) -> String {
    String(decoding: try take(Int(try u32())), as: UTF8.self)
  }

  mutating func node(parent: Node?) throws(SnapshotError) -> Node {
    let flags = try u8()
    guard flags & ~3 == 0 else { throw .malformed("node flags \(flags)") }
    let path = try string()
    let created = try u64()
    let modified = try u64()
    let expiration = flags & 2 != 0 ? try time() : nil
    let node = Node(
      path: path, value: "", isDir: flags & 1 != 0, createdIndex: created,
      modifiedIndex: modified, expiration: expiration, parent: parent)
    if node.isDir {
      for _ in 0..<(try u32()) {
        let child = try self.node(parent: node)
        guard KeyPath.join(path, child.name.string) == child.path else {
          throw .malformed("child \(child.path) under \(path)")
        }
        node.children![child.name] = child
      }
    } else {
      node.value = try string()
    }
    return node
  }

  mutating func view() throws(SnapshotError) -> NodeView {
    let flags = try u8()
    guard flags & ~7 == 0 else { throw .malformed("view flags \(flags)") }
    let key = try string()
    let value = flags & 4 != 0 ? try string() : nil
    let expiration = flags & 2 != 0 ? try time() : nil
    let ttl = Int64(bitPattern: try u64())
    var nodes: [NodeView] = []
    for _ in 0..<(try u32()) { nodes.append(try view()) }
    return NodeView(
      key: key, value: value, dir: flags & 1 != 0, expiration: expiration, ttl: ttl,
      nodes: nodes, modifiedIndex: try u64(), createdIndex: try u64())
  }

  mutating func event() throws(SnapshotError) -> Event {
    let name = try string()
    guard let action = Action(rawValue: name) else { throw .malformed("action \(name)") }
    let node = try view()
    let prevNode = try u8() == 1 ? try view() : nil
    let refresh = try u8() == 1
    return Event(
      action: action, node: node, prevNode: prevNode, etcdIndex: node.modifiedIndex,
      refresh: refresh)
  }
}
