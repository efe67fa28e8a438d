/// Record framing of the WAL: encoding a frame, sealing it into the CRC chain
/// and parsing a frame header back. The byte layout is documented in WAL.swift.
enum WALRecordType: UInt8, Sendable {
  /// First record of every segment: the running CRC at the end of the previous one.
  case crcCarry = 1
  /// Member ID, cluster ID and the caller's opaque metadata.
  case metadata = 2
  /// One `Raftpb_Entry`.
  case entry = 3
  /// One `Raftpb_HardState`.
  case hardState = 4
  /// A `Raftpb_SnapshotMetadata`: a snapshot was taken or received at this index.
  case snapshot = 5
}

/// A frame header that passed the structural checks (its CRC is checked apart).
struct WALFrame: Sendable {
  /// First byte of the frame in its segment.
  var offset: Int
  /// Whole frame in bytes: header, payload and padding; a multiple of 8.
  var size: Int
  var type: WALRecordType
  var storedCRC: UInt32
  var payloadLength: Int

  var end: Int { offset + size }
  var payloadRange: Range<Int> {
    (offset + WALRecord.headerSize)..<(offset + WALRecord.headerSize + payloadLength)
  }
}

/// What sits at a given offset of a segment.
enum WALHeaderParse: Sendable {
  /// The length field is zero (or the file ends here): no more written data,
  /// provided everything after it is zero too.
  case zeroFrame
  /// A structurally valid header.
  case frame(WALFrame)
  /// A header no writer produces, or a frame cut short by the end of the file.
  case damaged(String)
}

enum WALRecord {
  static let headerSize = 12
  static let alignment = 8
  static let minimumSize = 16
  static let crcOffset = 8

  /// Appends an unsealed frame (CRC field zero) carrying `payload` to `buffer`.
  /// The CRC is filled in by `seal` once the frame's place in the chain is known.
  static func append(
    _ type: WALRecordType, payload: [UInt8], to buffer: inout [UInt8]
  ) throws(StorageError) {
    // Rounding up to the alignment adds at most 7 bytes, so padding fits a UInt8.
    let unpadded = headerSize + payload.count
    let size = (unpadded + alignment - 1) / alignment * alignment
    guard size <= Int(UInt32.max) else { throw .recordTooLarge(bytes: payload.count) }
    let padding = size - unpadded
    buffer.appendLittleEndian(UInt32(size))
    buffer.append(type.rawValue)
    buffer.append(UInt8(padding))
    buffer.append(contentsOf: [0, 0, 0, 0, 0, 0])
    buffer.append(contentsOf: payload)
    buffer.append(contentsOf: repeatElement(0, count: padding))
  }

  /// The chained CRC of the frame at `offset`: it covers the previous record's
  /// CRC (as the seed), the first 8 header bytes and everything after the CRC
  /// field, payload and padding included, so any flipped byte of the frame
  /// except the stored CRC itself changes the result.
  static func chainedCRC(
    _ bytes: UnsafeRawBufferPointer, offset: Int, size: Int, previous: UInt32
  ) -> UInt32 {
    let head = CRC32C.update(previous, UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + 8]))
    let body = UnsafeRawBufferPointer(rebasing: bytes[offset + headerSize..<offset + size])
    return CRC32C.update(head, body)
  }

  /// Computes and stores the CRC of the unsealed frame at `offset`; returns it.
  static func seal(_ buffer: inout [UInt8], at offset: Int, previous: UInt32) -> UInt32 {
    buffer.withUnsafeMutableBytes { bytes in
      let readable = UnsafeRawBufferPointer(bytes)
      let size = Int(readable.littleEndianUInt32(at: offset))
      let crc = chainedCRC(readable, offset: offset, size: size, previous: previous)
      bytes.storeBytes(of: crc.littleEndian, toByteOffset: offset + crcOffset, as: UInt32.self)
      return crc
    }
  }

  /// Reads and structurally checks the frame header at `offset` (8-aligned).
  static func parseHeader(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> WALHeaderParse {
    let remaining = bytes.count - offset
    if remaining < headerSize {
      let tail = UnsafeRawBufferPointer(rebasing: bytes[offset...])
      return tail.isAllZero ? .zeroFrame : .damaged("header cut short by end of file")
    }
    let size = Int(bytes.littleEndianUInt32(at: offset))
    if size == 0 { return .zeroFrame }
    guard size % alignment == 0, size >= minimumSize else {
      return .damaged("impossible frame length \(size)")
    }
    guard size <= remaining else {
      return .damaged("frame length \(size) runs past end of file (\(remaining) bytes left)")
    }
    guard let type = WALRecordType(rawValue: bytes[offset + 4]) else {
      return .damaged("unknown record type \(bytes[offset + 4])")
    }
    let padding = Int(bytes[offset + 5])
    guard padding < alignment, headerSize + padding <= size else {
      return .damaged("impossible padding \(padding)")
    }
    guard bytes[offset + 6] == 0, bytes[offset + 7] == 0 else {
      return .damaged("reserved header bytes are not zero")
    }
    return .frame(
      WALFrame(
        offset: offset, size: size, type: type,
        storedCRC: bytes.littleEndianUInt32(at: offset + crcOffset),
        payloadLength: size - headerSize - padding))
  }
}

extension Array where Element == UInt8 {
  mutating func appendLittleEndian(_ value: UInt32) {
    Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
  }

  mutating func appendLittleEndian(_ value: UInt64) {
    Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
  }
}

extension UnsafeRawBufferPointer {
  /// Whether every byte is zero; compares 8 bytes at a time, since open runs
  /// this over the whole unwritten tail of the last segment.
  var isAllZero: Bool {
    var offset = 0
    while offset + 8 <= count {
      if loadUnaligned(fromByteOffset: offset, as: UInt64.self) != 0 { return false }
      offset += 8
    }
    while offset < count {
      if self[offset] != 0 { return false }
      offset += 1
    }
    return true
  }

  func littleEndianUInt32(at offset: Int) -> UInt32 {
    UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
  }

  func littleEndianUInt64(at offset: Int) -> UInt64 {
    UInt64(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
  }
}
