import Storage
import Testing

/// Bit-at-a-time CRC-32C, the definition the table-driven one must agree with.
private func referenceCRC32C(_ bytes: [UInt8]) -> UInt32 {
  var crc: UInt32 = 0xFFFF_FFFF
  for byte in bytes {
    crc ^= UInt32(byte)
    for _ in 0..<8 { crc = (crc & 1) == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
  }
  return ~crc
}

@Suite struct CRC32CTests {
  @Test func checkValue() {
    #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
  }

  @Test func emptyInputIsZero() {
    #expect(CRC32C.checksum([UInt8]()) == 0)
  }

  /// Vectors from RFC 3720, appendix B.4 (iSCSI).
  @Test func rfc3720Vectors() {
    #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
    #expect(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }) == 0x113F_DB5C)
  }

  @Test func matchesBitwiseReferenceAtEveryLengthAndAlignment() {
    let data = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 167 &+ 13) }
    for start in 0..<9 {
      for end in stride(from: start, through: data.count, by: 7) {
        let slice = Array(data[start..<end])
        #expect(CRC32C.checksum(data[start..<end]) == referenceCRC32C(slice))
      }
    }
  }

  @Test func chainingEqualsChecksumOfConcatenation() {
    let data = (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 91 &+ 5) }
    for split in [0, 1, 7, 8, 9, 100, 199, 200] {
      let chained = CRC32C.update(CRC32C.checksum(data[..<split]), data[split...])
      #expect(chained == CRC32C.checksum(data))
    }
  }
}
