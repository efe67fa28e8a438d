/// A point in the store's history: `main` counts write transactions (one Put,
/// one DeleteRange or one whole Txn), `sub` numbers the changes inside one.
/// Ordered by main, then sub, which is also the byte order of `bytes`.
public struct Revision: Hashable, Comparable, Sendable, CustomStringConvertible {
  public var main: Int64
  public var sub: Int64

  public init(main: Int64, sub: Int64 = 0) {
    self.main = main
    self.sub = sub
  }

  public static func < (lhs: Revision, rhs: Revision) -> Bool {
    (lhs.main, lhs.sub) < (rhs.main, rhs.sub)
  }

  public var description: String { "\(main).\(sub)" }

  /// Length of a revision key in the key bucket, without the tombstone mark.
  static let byteCount = 17
  /// Appended to the revision key of a deletion, as etcd does.
  static let tombstoneMark = UInt8(ascii: "t")

  /// The key-bucket key: 8-byte big-endian main, "_", 8-byte big-endian sub,
  /// then "t" for a tombstone. Big-endian makes LMDB's byte order the
  /// revision order (both halves are never negative in stored keys).
  func bytes(tombstone: Bool = false) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(Self.byteCount + 1)
    Self.appendBigEndian(UInt64(bitPattern: main), to: &out)
    out.append(UInt8(ascii: "_"))
    Self.appendBigEndian(UInt64(bitPattern: sub), to: &out)
    if tombstone { out.append(Self.tombstoneMark) }
    return out
  }

  /// Parses a key-bucket key; nil if it is not 17 or 18 bytes of that form.
  static func parse(_ key: UnsafeRawBufferPointer) -> (revision: Revision, tombstone: Bool)? {
    guard key.count == byteCount || key.count == byteCount + 1 else { return nil }
    guard key[8] == UInt8(ascii: "_") else { return nil }
    let tombstone = key.count == byteCount + 1
    if tombstone && key[byteCount] != tombstoneMark { return nil }
    let main = Int64(bitPattern: readBigEndian(key, at: 0))
    let sub = Int64(bitPattern: readBigEndian(key, at: 9))
    return (Revision(main: main, sub: sub), tombstone)
  }

  static func appendBigEndian(_ value: UInt64, to out: inout [UInt8]) {
    for shift in stride(from: 56, through: 0, by: -8) {
      out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
    }
  }

  static func readBigEndian(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt64 {
    var value: UInt64 = 0
    for index in offset..<offset + 8 { value = value << 8 | UInt64(bytes[index]) }
    return value
  }
}
