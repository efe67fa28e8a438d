/// A path or path component compared byte for byte, as Go compares strings.
///
/// Swift's `String` equality and ordering follow Unicode canonical equivalence, so
/// "é" and "e\u{301}" would collapse into one key; etcd keeps them apart. Every map
/// keyed by a v2 path uses this wrapper instead of `String`.
struct RawKey: Hashable, Comparable {
  let string: String

  init(_ string: String) {
    self.string = string
  }

  static func == (lhs: RawKey, rhs: RawKey) -> Bool {
    lhs.string.utf8.elementsEqual(rhs.string.utf8)
  }

  static func < (lhs: RawKey, rhs: RawKey) -> Bool {
    lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
  }

  func hash(into hasher: inout Hasher) {
    for byte in string.utf8 {
      hasher.combine(byte)
    }
  }
}

extension String {
  /// Byte-wise prefix test (Go's `strings.HasPrefix`), immune to Unicode normalization.
  func hasBytePrefix(_ prefix: String) -> Bool {
    utf8.starts(with: prefix.utf8)
  }
}

/// Path helpers that reproduce Go's `path` package on which etcd builds keys.
///
/// Splitting works on UTF-8 bytes: a "/" followed by a combining mark is one Swift
/// `Character`, yet still a separator to Go.
enum KeyPath {
  /// `path.Clean(path.Join("/", key))`: the canonical form of every key etcd stores.
  static func clean(_ key: String) -> String {
    var parts: [String] = []
    for part in components(key) {
      if part.utf8.elementsEqual(".".utf8) { continue }
      if part.utf8.elementsEqual("..".utf8) {
        // Rooted paths cannot climb above "/", Go drops the excess "..".
        if !parts.isEmpty { parts.removeLast() }
        continue
      }
      parts.append(part)
    }
    return "/" + parts.joined(separator: "/")
  }

  /// The non-empty components of a path.
  static func components(_ path: String) -> [String] {
    path.utf8.split(separator: UInt8(ascii: "/")).map { String(decoding: $0, as: UTF8.self) }
  }

  /// `path.Join(parent, name)` for a cleaned parent and a single component.
  static func join(_ parent: String, _ name: String) -> String {
    parent == "/" ? "/" + name : parent + "/" + name
  }

  /// Hidden nodes are those whose last component starts with "_".
  static func isHiddenName(_ cleaned: String) -> Bool {
    components(cleaned).last?.utf8.first == UInt8(ascii: "_")
  }

  /// etcd's `isHidden(watchPath, keyPath)`: whether an event on `keyPath` lies in or
  /// below a hidden component when seen from a watcher at `watchPath`.
  static func isHidden(watchPath: String, keyPath: String) -> Bool {
    let key = Array(keyPath.utf8)
    let watchLength = watchPath.utf8.count
    // A deleted directory notifies watchers deeper than the event key; never hidden.
    if watchLength > key.count { return false }
    let after = String(decoding: key[watchLength...], as: UTF8.self)
    return components(after).contains { $0.utf8.first == UInt8(ascii: "_") }
  }
}
