/// A parsed JSON document, for the few request bodies that are JSON
/// (`/v2/members`). Errors use the words of Go's encoding/json, which is
/// what etcd answers with.
enum JSONValue: Equatable {
  case null
  case bool(Bool)
  /// The literal as written: a uint64 member ID does not survive a Double.
  case number(String)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])

  struct ParseError: Error, Equatable {
    var message: String
  }

  /// Nesting deeper than this is refused rather than risking the stack.
  static let maxDepth = 64

  static func parse(_ bytes: [UInt8]) throws(ParseError) -> JSONValue {
    var parser = Parser(bytes: bytes)
    parser.skipSpace()
    let value = try parser.value(depth: 0)
    parser.skipSpace()
    if parser.position < bytes.count {
      throw ParseError(
        message: "invalid character \(parser.quotedByte()) after top-level value")
    }
    return value
  }

  /// Go's name for the JSON type, as in "cannot unmarshal string into ...".
  var goTypeName: String {
    switch self {
    case .null: "null"
    case .bool: "bool"
    case .number: "number"
    case .string: "string"
    case .array: "array"
    case .object: "object"
    }
  }

  private struct Parser {
    let bytes: [UInt8]
    var position = 0

    mutating func skipSpace() {
      while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) {
        position += 1
      }
    }

    func quotedByte() -> String {
      guard position < bytes.count else { return "''" }
      let byte = bytes[position]
      return byte >= 0x20 && byte < 0x7F ? "'\(Character(Unicode.Scalar(byte)))'" : "'\\x\(byte)'"
    }

    var endOfInput: ParseError { ParseError(message: "unexpected end of JSON input") }

    mutating func value(depth: Int) throws(ParseError) -> JSONValue {
      guard depth < JSONValue.maxDepth else {
        throw ParseError(message: "exceeded max depth")
      }
      guard position < bytes.count else { throw endOfInput }
      switch bytes[position] {
      case UInt8(ascii: "{"): return try object(depth: depth)
      case UInt8(ascii: "["): return try array(depth: depth)
      case UInt8(ascii: "\""): return .string(try string())
      case UInt8(ascii: "t"): return try literal("true", .bool(true))
      case UInt8(ascii: "f"): return try literal("false", .bool(false))
      case UInt8(ascii: "n"): return try literal("null", .null)
      case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
      default:
        throw ParseError(
          message: "invalid character \(quotedByte()) looking for beginning of value")
      }
    }

    mutating func literal(_ word: String, _ result: JSONValue) throws(ParseError) -> JSONValue {
      for expected in word.utf8 {
        guard position < bytes.count else { throw endOfInput }
        guard bytes[position] == expected else {
          throw ParseError(message: "invalid character \(quotedByte()) in literal \(word)")
        }
        position += 1
      }
      return result
    }

    mutating func number() throws(ParseError) -> JSONValue {
      let start = position
      let numberBytes = Set("+-0123456789.eE".utf8)
      while position < bytes.count, numberBytes.contains(bytes[position]) { position += 1 }
      let literal = String(decoding: bytes[start..<position], as: UTF8.self)
      guard Double(literal) != nil else { throw ParseError(message: "invalid number literal") }
      return .number(literal)
    }

    mutating func string() throws(ParseError) -> String {
      position += 1
      var out: [UInt8] = []
      while position < bytes.count {
        let byte = bytes[position]
        position += 1
        switch byte {
        case UInt8(ascii: "\""):
          return String(decoding: out, as: UTF8.self)
        case UInt8(ascii: "\\"):
          guard position < bytes.count else { throw endOfInput }
          let escape = bytes[position]
          position += 1
          switch escape {
          case UInt8(ascii: "n"): out.append(0x0A)
          case UInt8(ascii: "t"): out.append(0x09)
          case UInt8(ascii: "r"): out.append(0x0D)
          case UInt8(ascii: "b"): out.append(0x08)
          case UInt8(ascii: "f"): out.append(0x0C)
          case UInt8(ascii: "u"): out += try unicodeEscape()
          case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
          default:
            position -= 1
            throw ParseError(
              message: "invalid character \(quotedByte()) in string escape code")
          }
        case 0..<0x20:
          position -= 1
          throw ParseError(message: "invalid character \(quotedByte()) in string literal")
        default:
          out.append(byte)
        }
      }
      throw endOfInput
    }

    mutating func hex4() throws(ParseError) -> UInt32 {
      guard position + 4 <= bytes.count else { throw endOfInput }
      let text = String(decoding: bytes[position..<position + 4], as: UTF8.self)
      guard let code = UInt32(text, radix: 16) else {
        throw ParseError(message: "invalid character in \\u hexadecimal character escape")
      }
      position += 4
      return code
    }

    /// `\uXXXX`, joining a UTF-16 surrogate pair; a lone surrogate becomes
    /// U+FFFD as Go makes it.
    mutating func unicodeEscape() throws(ParseError) -> [UInt8] {
      var code = try hex4()
      if (0xD800..<0xDC00).contains(code), position + 1 < bytes.count,
        bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
      {
        let saved = position
        position += 2
        let low = try hex4()
        if (0xDC00..<0xE000).contains(low) {
          code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        } else {
          position = saved
        }
      }
      let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
      return Array(String(Character(scalar)).utf8)
    }

    mutating func array(depth: Int) throws(ParseError) -> JSONValue {
      position += 1
      var items: [JSONValue] = []
      skipSpace()
      if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
        position += 1
        return .array(items)
      }
      while true {
        skipSpace()
        items.append(try value(depth: depth + 1))
        skipSpace()
        guard position < bytes.count else { throw endOfInput }
        let byte = bytes[position]
        position += 1
        if byte == UInt8(ascii: "]") { return .array(items) }
        guard byte == UInt8(ascii: ",") else {
          position -= 1
          throw ParseError(
            message: "invalid character \(quotedByte()) after array element")
        }
      }
    }

    mutating func object(depth: Int) throws(ParseError) -> JSONValue {
      position += 1
      var fields: [String: JSONValue] = [:]
      skipSpace()
      if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
        position += 1
        return .object(fields)
      }
      while true {
        skipSpace()
        guard position < bytes.count else { throw endOfInput }
        guard bytes[position] == UInt8(ascii: "\"") else {
          throw ParseError(
            message: "invalid character \(quotedByte()) looking for beginning of object key string"
          )
        }
        let key = try string()
        skipSpace()
        guard position < bytes.count else { throw endOfInput }
        guard bytes[position] == UInt8(ascii: ":") else {
          throw ParseError(message: "invalid character \(quotedByte()) after object key")
        }
        position += 1
        skipSpace()
        fields[key] = try value(depth: depth + 1)
        skipSpace()
        guard position < bytes.count else { throw endOfInput }
        let byte = bytes[position]
        position += 1
        if byte == UInt8(ascii: "}") { return .object(fields) }
        guard byte == UInt8(ascii: ",") else {
          position -= 1
          throw ParseError(
            message: "invalid character \(quotedByte()) after object key:value pair")
        }
      }
    }
  }
}
