#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif
#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The order of keys in the index and of range bounds: unsigned bytes
/// compared lexicographically, a proper prefix first (Go's `bytes.Compare`,
/// which is what etcd ranges use).
enum KeyOrder {
  /// Negative, zero or positive as `lhs` sorts before, with or after `rhs`.
  static func compare(_ lhs: Data, _ rhs: Data) -> Int {
    lhs.withUnsafeBytes { left in
      rhs.withUnsafeBytes { right in
        let shared = min(left.count, right.count)
        if shared > 0 {
          let order = memcmp(left.baseAddress!, right.baseAddress!, shared)
          if order != 0 { return Int(order) }
        }
        return left.count - right.count
      }
    }
  }

  static func less(_ lhs: Data, _ rhs: Data) -> Bool { compare(lhs, rhs) < 0 }
}
