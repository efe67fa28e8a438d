/// The `grpc-timeout` header: at most 8 ASCII digits and a unit, H M S m u n
/// (hours down to nanoseconds).
enum GRPCTimeout {
  /// The timeout in milliseconds, rounded up so a deadline never comes
  /// early; nil when malformed.
  static func parse(_ value: String) -> UInt64? {
    let bytes = Array(value.utf8)
    guard (2...9).contains(bytes.count), let unit = bytes.last else { return nil }
    var amount: UInt64 = 0
    for digit in bytes.dropLast() {
      guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else { return nil }
      amount = amount * 10 + UInt64(digit - UInt8(ascii: "0"))
    }
    // 8 digits (< 10^8) times 3.6e6 ms per hour stays far below 2^64.
    switch unit {
    case UInt8(ascii: "H"): return amount * 3_600_000
    case UInt8(ascii: "M"): return amount * 60_000
    case UInt8(ascii: "S"): return amount * 1000
    case UInt8(ascii: "m"): return amount
    case UInt8(ascii: "u"): return (amount + 999) / 1000
    case UInt8(ascii: "n"): return (amount + 999_999) / 1_000_000
    default: return nil
    }
  }

  /// The header value for `milliseconds`, in the finest unit that fits 8 digits.
  static func encode(milliseconds: UInt64) -> String {
    let limit: UInt64 = 100_000_000
    if milliseconds < limit { return "\(milliseconds)m" }
    let seconds = (milliseconds + 999) / 1000
    if seconds < limit { return "\(seconds)S" }
    return "\(min((seconds + 3599) / 3600, limit - 1))H"
  }
}
