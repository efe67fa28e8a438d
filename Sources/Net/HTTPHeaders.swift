/// Header fields in arrival order; names compare case-insensitively (RFC 9110 §5.1).
public struct HTTPHeaders: Sendable, Equatable, ExpressibleByDictionaryLiteral {
  public private(set) var fields: [(name: String, value: String)] = []

  public init() {}

  public init(dictionaryLiteral elements: (String, String)...) {
    fields = elements.map { (name: $0.0, value: $0.1) }
  }

  /// The first value of `name`, nil when absent.
  public subscript(name: String) -> String? {
    fields.first { Self.matches($0.name, name) }?.value
  }

  public func values(_ name: String) -> [String] {
    fields.filter { Self.matches($0.name, name) }.map(\.value)
  }

  public func contains(_ name: String) -> Bool { self[name] != nil }

  public mutating func add(_ name: String, _ value: String) {
    fields.append((name: name, value: value))
  }

  /// Replaces every field called `name` with one.
  public mutating func set(_ name: String, _ value: String) {
    remove(name)
    add(name, value)
  }

  public mutating func remove(_ name: String) {
    fields.removeAll { Self.matches($0.name, name) }
  }

  /// True when a comma-separated `name` header lists `token` (e.g. Connection: close).
  public func hasToken(_ token: String, in name: String) -> Bool {
    values(name).contains { value in
      value.split(separator: ",").contains {
        Self.matches($0.trimmingSpaces(), token)
      }
    }
  }

  public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
    lhs.fields.elementsEqual(rhs.fields) { $0.name == $1.name && $0.value == $1.value }
  }

  /// Header names and tokens are ASCII: compared byte by byte with letters
  /// folded, which allocates nothing (lookups run on every request).
  static func matches(_ a: some StringProtocol, _ b: some StringProtocol) -> Bool {
    // Most names differ in length, which a native string knows at once.
    guard a.utf8.count == b.utf8.count else { return false }
    return a.utf8.elementsEqual(b.utf8) { x, y in
      let folded = x | 0x20
      return x == y
        || (folded == y | 0x20 && folded >= UInt8(ascii: "a") && folded <= UInt8(ascii: "z"))
    }
  }
}

extension Substring {
  /// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
  public func trimmingSpaces() -> Substring {
    let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
    guard let first = firstIndex(where: { !isSpace($0) }) else { return self[endIndex...] }
    let last = lastIndex(where: { !isSpace($0) })!
    return self[first...last]
  }
}
