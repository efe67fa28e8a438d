#if canImport(Glibc)
  import Glibc
#endif

/// The wall clock, read where a request is decided (TTL expirations, the
/// leader's expiry time), never where it is applied.
enum ServerClock {
  static func wallNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
  }
}

extension ServerClock {
  /// RFC 3339 with nanoseconds, trailing zeros trimmed, as Go's
  /// time.RFC3339Nano prints UTC times: "2026-11-22T03:18:41.63640318Z".
  static func rfc3339Nano(_ nanoseconds: Int64) -> String {
    var seconds = time_t(nanoseconds / 1_000_000_000)
    let fraction = nanoseconds % 1_000_000_000
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func pad(_ n: Int32, _ width: Int) -> String {
      let text = String(n)
      return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    var text =
      "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
      + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
    if fraction > 0 {
      var digits = String(fraction)
      digits = String(repeating: "0", count: 9 - digits.count) + digits
      while digits.hasSuffix("0") { digits.removeLast() }
      text += "." + digits
    }
    return text + "Z"
  }

  /// A duration as Go's time.Duration prints it: "2.111768038s", "1m2.5s",
  /// "1h0m0s".
  static func goDuration(_ nanoseconds: Int64) -> String {
    if nanoseconds == 0 { return "0s" }
    let hours = nanoseconds / 3_600_000_000_000
    let minutes = nanoseconds / 60_000_000_000 % 60
    let secondsPart = nanoseconds % 60_000_000_000
    var seconds = String(secondsPart / 1_000_000_000)
    let fraction = secondsPart % 1_000_000_000
    if fraction > 0 {
      var digits = String(fraction)
      digits = String(repeating: "0", count: 9 - digits.count) + digits
      while digits.hasSuffix("0") { digits.removeLast() }
      seconds += "." + digits
    }
    if hours > 0 { return "\(hours)h\(minutes)m\(seconds)s" }
    if minutes > 0 { return "\(minutes)m\(seconds)s" }
    return seconds + "s"
  }
}
