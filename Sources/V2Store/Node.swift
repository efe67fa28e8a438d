/// A wall-clock instant in nanoseconds since the Unix epoch (UTC).
///
/// The store never reads a clock: the leader's time travels in the raft entry so that
/// every member computes the same expirations and TTLs.
public struct StoreTime: Hashable, Comparable, Sendable {
  public var nanosecondsSinceEpoch: Int64

  public init(nanosecondsSinceEpoch: Int64) {
    self.nanosecondsSinceEpoch = nanosecondsSinceEpoch
  }

  public init(secondsSinceEpoch: Int64) {
    self.nanosecondsSinceEpoch = secondsSinceEpoch * 1_000_000_000
  }

  /// Saturates instead of trapping: a client may send any ttl the HTTP layer parses.
  public func adding(seconds: Int64) -> StoreTime {
    let (delta, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    let (sum, sumOverflow) = nanosecondsSinceEpoch.addingReportingOverflow(delta)
    if overflow || sumOverflow {
      return StoreTime(nanosecondsSinceEpoch: seconds < 0 ? .min : .max)
    }
    return StoreTime(nanosecondsSinceEpoch: sum)
  }

  public static func < (lhs: StoreTime, rhs: StoreTime) -> Bool {
    lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch
  }

  /// etcd treats expirations before 2000-01-01 as "never" (a zero Go time sent by JS).
  static let minimumExpiration = StoreTime(secondsSinceEpoch: 946_684_800)
}

/// The public view of a node, as etcd's `NodeExtern` (field order is JSON order).
public struct NodeView: Equatable, Sendable {
  public var key: String
  /// nil for directories and in the `node` of delete and expire events.
  public var value: String?
  public var dir: Bool
  public var expiration: StoreTime?
  /// Seconds left, rounded up as etcd does; 0 (omitted) for permanent nodes.
  public var ttl: Int64
  public var nodes: [NodeView]
  public var modifiedIndex: UInt64
  public var createdIndex: UInt64

  public init(
    key: String, value: String? = nil, dir: Bool = false, expiration: StoreTime? = nil,
    ttl: Int64 = 0, nodes: [NodeView] = [], modifiedIndex: UInt64, createdIndex: UInt64
  ) {
    self.key = key
    self.value = value
    self.dir = dir
    self.expiration = expiration
    self.ttl = ttl
    self.nodes = nodes
    self.modifiedIndex = modifiedIndex
    self.createdIndex = createdIndex
  }
}

/// A key or directory in the tree.
///
/// Invariant: `children == nil` exactly for keys; `heapPosition != nil` exactly when
/// `expiration != nil` and the node is attached to the tree.
final class Node {
  let path: String
  var value: String
  var children: [RawKey: Node]?
  let createdIndex: UInt64
  var modifiedIndex: UInt64
  var expiration: StoreTime?
  weak var parent: Node?
  var heapPosition: Int?

  init(
    path: String, value: String, isDir: Bool, createdIndex: UInt64, modifiedIndex: UInt64,
    expiration: StoreTime?, parent: Node?
  ) {
    self.path = path
    self.value = value
    self.children = isDir ? [:] : nil
    self.createdIndex = createdIndex
    self.modifiedIndex = modifiedIndex
    self.expiration = expiration
    self.parent = parent
  }

  var isDir: Bool { children != nil }

  var name: RawKey { RawKey(KeyPath.components(path).last ?? "") }

  /// Children in byte order. Go lists them in random map order; a fixed order keeps
  /// members byte-identical and also serves `sorted=true`.
  var sortedChildren: [Node] {
    (children ?? [:]).sorted { $0.key < $1.key }.map(\.value)
  }

  /// etcd's `expirationAndTTL`: ttl = ceil((expiration - now) / 1s), Go integer math.
  func expirationAndTTL(now: StoreTime) -> (StoreTime?, Int64) {
    guard let expiration else { return (nil, 0) }
    let (left, overflow) = expiration.nanosecondsSinceEpoch.subtractingReportingOverflow(
      now.nanosecondsSinceEpoch)
    if overflow { return (expiration, left < 0 ? .max / 1_000_000_000 : .min / 1_000_000_000) }
    var ttl = left / 1_000_000_000
    if left % 1_000_000_000 > 0 { ttl += 1 }
    return (expiration, ttl)
  }

  /// etcd's `Repr`: one level, or the whole subtree when recursive; hidden children
  /// are left out.
  func view(recursive: Bool, now: StoreTime) -> NodeView {
    let (expiration, ttl) = expirationAndTTL(now: now)
    var view = NodeView(
      key: path, value: isDir ? nil : value, dir: isDir, expiration: expiration, ttl: ttl,
      modifiedIndex: modifiedIndex, createdIndex: createdIndex)
    if isDir && recursive {
      view.nodes = visibleChildren.map { $0.view(recursive: true, now: now) }
    }
    return view
  }

  /// A `get` lists a directory's direct children even when not recursive.
  func listing(recursive: Bool, now: StoreTime) -> NodeView {
    var view = view(recursive: false, now: now)
    if isDir {
      view.nodes = visibleChildren.map { $0.view(recursive: recursive, now: now) }
    }
    return view
  }

  private var visibleChildren: [Node] {
    sortedChildren.filter { !KeyPath.isHiddenName($0.path) }
  }
}
