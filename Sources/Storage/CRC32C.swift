/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), computed eight bytes
/// at a time with slice-by-8 tables.
///
/// `update(0, a ++ b) == update(update(0, a), b)`: the running value can be fed
/// back as the seed, which is how the WAL chains one record's checksum into the
/// next.
public enum CRC32C {
  /// Continues a CRC-32C over `bytes`, starting from the value a previous call
  /// returned (`0` to start a fresh checksum).
  public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
    tables.withUnsafeBufferPointer { table in
      var state = ~crc
      var offset = 0
      let count = bytes.count
      // Each iteration folds 8 input bytes; table k maps a byte that still has
      // k more bytes to travel through the register, so the 8 lookups commute.
      while count - offset >= 8 {
        let low = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        let high = UInt32(
          littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
        let first = low ^ state
        state =
          table[7 &* 256 &+ Int(first & 0xFF)]
          ^ table[6 &* 256 &+ Int((first >> 8) & 0xFF)]
          ^ table[5 &* 256 &+ Int((first >> 16) & 0xFF)]
          ^ table[4 &* 256 &+ Int(first >> 24)]
          ^ table[3 &* 256 &+ Int(high & 0xFF)]
          ^ table[2 &* 256 &+ Int((high >> 8) & 0xFF)]
          ^ table[1 &* 256 &+ Int((high >> 16) & 0xFF)]
          ^ table[Int(high >> 24)]
        offset &+= 8
      }
      while offset < count {
        state = table[Int((state ^ UInt32(bytes[offset])) & 0xFF)] ^ (state >> 8)
        offset &+= 1
      }
      return ~state
    }
  }

  /// Continues a CRC-32C over a byte array or slice of one.
  public static func update<Bytes: Collection<UInt8>>(_ crc: UInt32, _ bytes: Bytes) -> UInt32 {
    if let result = bytes.withContiguousStorageIfAvailable({
      update(crc, UnsafeRawBufferPointer($0))
    }) {
      return result
    }
    return Array(bytes).withUnsafeBytes { update(crc, $0) }
  }

  /// The CRC-32C of `bytes` alone.
  public static func checksum<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> UInt32 {
    update(0, bytes)
  }

  /// `tables[k * 256 + b]`: the register contribution of byte `b` followed by
  /// `k` zero bytes. Table 0 is the classic byte-at-a-time table.
  private static let tables: [UInt32] = {
    var table = [UInt32](repeating: 0, count: 8 * 256)
    for byte in 0..<256 {
      var value = UInt32(byte)
      for _ in 0..<8 {
        value = (value & 1) == 1 ? (value >> 1) ^ 0x82F6_3B78 : value >> 1
      }
      table[byte] = value
    }
    for slice in 1..<8 {
      for byte in 0..<256 {
        let previous = table[(slice - 1) * 256 + byte]
        table[slice * 256 + byte] = (previous >> 8) ^ table[Int(previous & 0xFF)]
      }
    }
    return table
  }()
}
