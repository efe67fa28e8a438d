/// URL handling with the exact rules of Go's net/http and net/url, which
/// etcd's HTTP answers follow: path cleaning (and the redirect it causes),
/// path escaping, and strict form decoding with its error texts.
public enum GoURL {
  /// path.Clean: the shortest equivalent path, "." and ".." resolved.
  public static func clean(_ path: String) -> String {
    guard !path.isEmpty else { return "." }
    let rooted = path.hasPrefix("/")
    var parts: [Substring] = []
    for part in path.split(separator: "/", omittingEmptySubsequences: true) {
      switch part {
      case ".":
        continue
      case "..":
        if let last = parts.last, last != ".." {
          parts.removeLast()
        } else if !rooted {
          parts.append(part)
        }
      default:
        parts.append(part)
      }
    }
    let cleaned = (rooted ? "/" : "") + parts.joined(separator: "/")
    return cleaned.isEmpty ? "." : cleaned
  }

  /// The path a Go ServeMux routes: rooted and cleaned, keeping a trailing
  /// slash. A request for any other spelling is redirected to this one.
  public static func muxPath(_ path: String) -> String {
    let rooted = path.hasPrefix("/") ? path : "/" + path
    let cleaned = clean(rooted)
    return rooted.hasSuffix("/") && cleaned != "/" ? cleaned + "/" : cleaned
  }

  /// A decoded path escaped as url.URL writes it: unreserved characters and
  /// `$&+,/:;=@` stay, every other byte becomes %XX.
  public static func escapePath(_ path: String) -> String {
    let kept = Set(
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~$&+,/:;=@".utf8)
    var out = ""
    for byte in path.utf8 {
      if kept.contains(byte) {
        out.unicodeScalars.append(Unicode.Scalar(byte))
      } else {
        out +=
          "%" + String(byte >> 4, radix: 16).uppercased()
          + String(byte & 15, radix: 16).uppercased()
      }
    }
    return out
  }

  /// url.ParseQuery: `name=value` pairs split on "&", '+' as a space. Bad
  /// pairs are skipped and the first problem is reported, in Go's words.
  public static func parseForm(_ text: some Collection<UInt8>)
    -> (pairs: [(name: String, value: String)], error: String?)
  {
    var pairs: [(name: String, value: String)] = []
    var firstError: String?
    for segment in Array(text).split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true)
    {
      if segment.contains(UInt8(ascii: ";")) {
        firstError = firstError ?? "invalid semicolon separator in query"
        continue
      }
      let equals = segment.firstIndex(of: UInt8(ascii: "="))
      let name = equals.map { segment[..<$0] } ?? segment
      let value = equals.map { segment[($0 + 1)...] } ?? []
      switch (unescape(name), unescape(value)) {
      case (.success(let n), .success(let v)):
        pairs.append((n, v))
      case (.failure(let bad), _), (_, .failure(let bad)):
        firstError = firstError ?? bad.message
      }
    }
    return (pairs, firstError)
  }

  struct EscapeError: Error {
    var message: String
  }

  /// Query unescaping: %XX and '+'; a '%' without two hex digits is an
  /// error naming at most three bytes from it.
  static func unescape(_ bytes: ArraySlice<UInt8>) -> Result<String, EscapeError> {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var i = bytes.startIndex
    while i < bytes.endIndex {
      let byte = bytes[i]
      if byte == UInt8(ascii: "%") {
        guard i + 2 < bytes.endIndex,
          let high = PercentDecoding.hexValue(bytes[i + 1]),
          let low = PercentDecoding.hexValue(bytes[i + 2])
        else {
          let shown = bytes[i..<min(i + 3, bytes.endIndex)]
          return .failure(EscapeError(message: "invalid URL escape " + quoted(shown)))
        }
        out.append(high << 4 | low)
        i += 3
      } else {
        out.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
        i += 1
      }
    }
    return .success(String(decoding: out, as: UTF8.self))
  }

  /// strconv.Quote for the short byte runs an escape error shows.
  private static func quoted(_ bytes: ArraySlice<UInt8>) -> String {
    var out = "\""
    for byte in bytes {
      if byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
        out.unicodeScalars.append(Unicode.Scalar(byte))
      } else {
        out += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
      }
    }
    return out + "\""
  }
}
