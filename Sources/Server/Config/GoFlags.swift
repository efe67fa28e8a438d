/// Command-line flags parsed the way Go's `flag` package does, since etcd's
/// users start members with it: `-name x`, `--name x`, `-name=x` and
/// `--name=x` are one flag; a boolean takes no separate value (`-enable-v2`,
/// `-enable-v2=false`); parsing stops at `--` or the first non-flag argument.
struct GoFlagSet {
  enum Kind {
    case string
    case bool
  }

  struct Definition {
    var name: String
    var kind: Kind
    var usage: String
  }

  /// Why a command line was refused, worded as Go's flag package words it.
  enum ParseError: Error, Equatable, CustomStringConvertible {
    case undefined(String)
    case missingValue(String)
    case badBool(flag: String, value: String)
    case badSyntax(String)
    case positional(String)

    var description: String {
      switch self {
      case .undefined(let name): "flag provided but not defined: -\(name)"
      case .missingValue(let name): "flag needs an argument: -\(name)"
      case .badBool(let flag, let value):
        "invalid boolean value \"\(value)\" for -\(flag): parse error"
      case .badSyntax(let arg): "bad flag syntax: \(arg)"
      case .positional(let arg): "'\(arg)' is not a valid flag"
      }
    }
  }

  private(set) var definitions: [String: Definition] = [:]
  private(set) var order: [String] = []

  mutating func define(_ name: String, _ kind: Kind, _ usage: String) {
    precondition(definitions[name] == nil, "flag -\(name) defined twice")
    definitions[name] = Definition(name: name, kind: kind, usage: usage)
    order.append(name)
  }

  /// Parses `arguments` (without the program name). Returns the flags set,
  /// in the order given; a flag given twice keeps its last value.
  func parse(_ arguments: [String]) throws(ParseError) -> [(name: String, value: String)] {
    var result: [(name: String, value: String)] = []
    var i = 0
    while i < arguments.count {
      let arg = arguments[i]
      i += 1
      if arg == "--" { break }
      guard arg.count > 1, arg.hasPrefix("-") else { throw .positional(arg) }
      var body = arg.dropFirst()
      if body.hasPrefix("-") { body = body.dropFirst() }
      if body.isEmpty || body.hasPrefix("-") || body.hasPrefix("=") { throw .badSyntax(arg) }
      var name = String(body)
      var inlineValue: String?
      if let eq = body.firstIndex(of: "=") {
        name = String(body[..<eq])
        inlineValue = String(body[body.index(after: eq)...])
      }
      guard let definition = definitions[name] else { throw .undefined(name) }
      switch definition.kind {
      case .bool:
        let value = inlineValue ?? "true"
        guard let parsed = Self.parseBool(value) else {
          throw .badBool(flag: name, value: value)
        }
        result.append((name, parsed ? "true" : "false"))
      case .string:
        if let inlineValue {
          result.append((name, inlineValue))
        } else {
          guard i < arguments.count else { throw .missingValue(name) }
          result.append((name, arguments[i]))
          i += 1
        }
      }
    }
    if i < arguments.count { throw .positional(arguments[i]) }
    return result
  }

  /// The spellings Go's strconv.ParseBool accepts.
  static func parseBool(_ text: String) -> Bool? {
    switch text {
    case "1", "t", "T", "TRUE", "true", "True": true
    case "0", "f", "F", "FALSE", "false", "False": false
    default: nil
    }
  }

  /// The ETCD_* environment variable that stands for a flag.
  static func environmentName(_ flag: String) -> String {
    "ETCD_" + flag.uppercased().replacing("-", with: "_")
  }
}

/// Go's `time.ParseDuration`, as etcd's duration flags take it: a sequence
/// of decimal numbers, each with a unit ("300ms", "1.5h", "2h45m"); "0"
/// alone needs none.
enum GoDuration {
  /// The duration in nanoseconds, nil for text Go would refuse.
  static func nanoseconds(_ text: String) -> Int64? {
    var rest = Substring(text)
    var negative = false
    if let sign = rest.first, sign == "-" || sign == "+" {
      negative = sign == "-"
      rest = rest.dropFirst()
    }
    if rest == "0" { return 0 }
    guard !rest.isEmpty else { return nil }
    var total = 0.0
    while !rest.isEmpty {
      let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
      guard !number.isEmpty, number != ".", let value = Double(number) else { return nil }
      rest = rest.dropFirst(number.count)
      let unit = rest.prefix { !($0.isASCII && ($0.isNumber || $0 == ".")) }
      guard let scale = units[String(unit)] else { return nil }
      rest = rest.dropFirst(unit.count)
      total += value * scale
    }
    guard total <= Double(Int64.max) else { return nil }
    return negative ? -Int64(total) : Int64(total)
  }

  private static let units: [String: Double] = [
    "ns": 1, "us": 1e3, "\u{00B5}s": 1e3, "\u{03BC}s": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9,
    "h": 3600e9,
  ]
}
