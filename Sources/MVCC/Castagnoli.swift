/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum
/// etcd's HashKV uses, one table lookup per byte. `update` continues a
/// running checksum, so `update(update(0, a), b)` is the checksum of a then b.
enum Castagnoli {
  static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
    var state = ~crc
    for byte in bytes { state = table[Int((state ^ UInt32(byte)) & 0xFF)] ^ (state >> 8) }
    return ~state
  }

  static func update(_ crc: UInt32, _ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBytes { update(crc, $0) }
  }

  /// `table[b]`: the register after shifting byte `b` through it alone.
  private static let table: [UInt32] = (0..<256).map { byte in
    var value = UInt32(byte)
    for _ in 0..<8 { value = (value & 1) == 1 ? (value >> 1) ^ 0x82F6_3B78 : value >> 1 }
    return value
  }
}
