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
  /// "1h0m0s", and below a second "1.5ms", "142.281µs", "1ns".
  static func goDuration(_ nanoseconds: Int64) -> String {
    if nanoseconds == 0 { return "0s" }
    if nanoseconds < 1000 { return "\(nanoseconds)ns" }
    if nanoseconds < 1_000_000 { return decimal(nanoseconds, places: 3) + "µs" }
    if nanoseconds < 1_000_000_000 { return decimal(nanoseconds, places: 6) + "ms" }
    let hours = nanoseconds / 3_600_000_000_000
    let minutes = nanoseconds / 60_000_000_000 % 60
    let seconds = decimal(nanoseconds % 60_000_000_000, places: 9)
    if hours > 0 { return "\(hours)h\(minutes)m\(seconds)s" }
    if minutes > 0 { return "\(minutes)m\(seconds)s" }
    return seconds + "s"
  }

  /// `value` / 10^places, with the fraction's trailing zeros left out.
  private static func decimal(_ value: Int64, places: Int) -> String {
    var scale: Int64 = 1
    for _ in 0..<places { scale *= 10 }
    var text = String(value / scale)
    let fraction = value % scale
    guard fraction > 0 else { return text }
    var digits = String(fraction)
    digits = String(repeating: "0", count: places - digits.count) + digits
    while digits.hasSuffix("0") { digits.removeLast() }
    text += "." + digits
    return text
  }
}
