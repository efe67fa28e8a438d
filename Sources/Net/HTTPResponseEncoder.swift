#if canImport(Glibc)
  import Glibc
#endif

/// Serializes response heads and chunked framing (RFC 9112 §4, §7.1).
enum HTTPResponseEncoder {
  enum Framing: Equatable {
    case contentLength(Int)
    case chunked
    /// HTTP/1.0 streaming: the body ends when the connection closes.
    case untilClose
    /// 1xx, 204, 304: no body and no length.
    case none
  }

  /// Framing headers are ours: any the caller set are replaced. An
  /// HTTP/1.0 request is answered in its own version, as Go answers it:
  /// a connection kept open says so, one about to close says nothing.
  static func head(
    status: Int, headers: HTTPHeaders, framing: Framing, closes: Bool, http10: Bool = false
  ) -> [UInt8] {
    var text = "HTTP/1.\(http10 ? 0 : 1) \(status) \(HTTPStatus.reason(status))\r\n"
    for field in headers.fields {
      if HTTPHeaders.matches(field.name, "Content-Length")
        || HTTPHeaders.matches(field.name, "Transfer-Encoding")
        || HTTPHeaders.matches(field.name, "Connection")
      {
        continue
      }
      // CR or LF in a field would let a value forge headers of its own.
      let value = field.value.filter { $0 != "\r" && $0 != "\n" }
      text += "\(field.name): \(value)\r\n"
    }
    // Every response carries its date, as Go's server (and so etcd) sends it.
    if headers["Date"] == nil { text += "Date: \(httpDate(time(nil)))\r\n" }
    switch framing {
    case .contentLength(let count): text += "Content-Length: \(count)\r\n"
    case .chunked: text += "Transfer-Encoding: chunked\r\n"
    case .untilClose, .none: break
    }
    if http10 {
      if !closes { text += "Connection: keep-alive\r\n" }
    } else if closes {
      text += "Connection: close\r\n"
    }
    text += "\r\n"
    return Array(text.utf8)
  }

  /// IMF-fixdate (RFC 9110 §5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT".
  static func httpDate(_ seconds: time_t) -> String {
    var clock = seconds
    var parts = tm()
    gmtime_r(&clock, &parts)
    let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    let months = [
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) "
      + "\(parts.tm_year + 1900) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
  }

  static func chunk(_ bytes: [UInt8]) -> [UInt8] {
    var framed = Array((String(bytes.count, radix: 16) + "\r\n").utf8)
    framed.reserveCapacity(framed.count + bytes.count + 2)
    framed += bytes
    framed += [13, 10]
    return framed
  }

  static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)
  static let continueResponse: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
}
