/// A complete request: head plus the whole body.
public struct HTTPRequest: Sendable {
  public var method: String
  /// The request-target exactly as sent ("/v2/keys/a%2Fb?wait=true").
  public var target: String
  /// The target's path, percent-decoded.
  public var path: String
  /// Query parameters in order, form-decoded ('+' is a space).
  public var query: [(name: String, value: String)]
  /// The query as sent, without the "?"; empty when there is none.
  public var rawQuery: String
  public var headers: HTTPHeaders
  public var body: [UInt8]
  public var versionMajor: Int
  public var versionMinor: Int
  /// Whether the connection stays open after the response (version and Connection header).
  public var keepAlive: Bool

  /// The first value of query parameter `name`.
  public func queryValue(_ name: String) -> String? {
    query.first { $0.name == name }?.value
  }

  init(
    method: String, target: String, headers: HTTPHeaders, body: [UInt8],
    version: (Int, Int), keepAlive: Bool
  ) {
    self.method = method
    self.target = target
    self.headers = headers
    self.body = body
    (versionMajor, versionMinor) = version
    self.keepAlive = keepAlive
    var rest = Substring(target)
    // Absolute-form targets (RFC 9112 §3.2.2) carry scheme and authority first.
    for scheme in ["http://", "https://"] where rest.lowercased().hasPrefix(scheme) {
      rest = rest.dropFirst(scheme.count)
      rest = rest.firstIndex(of: "/").map { rest[$0...] } ?? "/"
    }
    if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
    let question = rest.firstIndex(of: "?")
    let rawPath = question.map { rest[..<$0] } ?? rest
    path = PercentDecoding.decode(rawPath, plusIsSpace: false)
    let queryText = question.map { rest[rest.index(after: $0)...] } ?? ""
    rawQuery = String(queryText)
    query = PercentDecoding.query(queryText)
  }
}

enum PercentDecoding {
  /// Whether every "%" starts an escape of two hex digits, as Go's URL
  /// parser demands of a path.
  static func isValid(_ bytes: ArraySlice<UInt8>) -> Bool {
    var index = bytes.startIndex
    while index < bytes.endIndex {
      if bytes[index] == UInt8(ascii: "%") {
        guard index + 2 < bytes.endIndex, hexValue(bytes[index + 1]) != nil,
          hexValue(bytes[index + 2]) != nil
        else { return false }
        index += 3
      } else {
        index += 1
      }
    }
    return true
  }

  /// Decodes %XX escapes; a malformed escape is kept as written.
  static func decode(_ text: Substring, plusIsSpace: Bool) -> String {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count)
    var iterator = Array(text.utf8)[...]
    while let byte = iterator.popFirst() {
      if byte == UInt8(ascii: "%"), iterator.count >= 2,
        let high = hexValue(iterator[iterator.startIndex]),
        let low = hexValue(iterator[iterator.startIndex + 1])
      {
        bytes.append(high << 4 | low)
        iterator = iterator.dropFirst(2)
      } else if byte == UInt8(ascii: "+") && plusIsSpace {
        bytes.append(UInt8(ascii: " "))
      } else {
        bytes.append(byte)
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  static func query(_ text: Substring) -> [(name: String, value: String)] {
    text.split(separator: "&", omittingEmptySubsequences: true).map { pair in
      let equals = pair.firstIndex(of: "=")
      let name = equals.map { pair[..<$0] } ?? pair
      let value = equals.map { pair[pair.index(after: $0)...] } ?? ""
      return (decode(name, plusIsSpace: true), decode(value, plusIsSpace: true))
    }
  }

  static func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
  }
}
