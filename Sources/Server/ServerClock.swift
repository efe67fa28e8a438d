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

  /// For measuring intervals: never jumps with the wall clock.
  static func monotonicNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
  }

  /// A float as Go's encoding/json writes it: shortest form, no ".0".
  static func goFloat(_ value: Double) -> String {
    guard value.isFinite, value.magnitude >= 1e-6 else { return "0" }
    var text = value.description
    if text.hasSuffix(".0") { text.removeLast(2) }
    return text
  }
}

extension ServerClock {
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
