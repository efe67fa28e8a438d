/// Walking one segment's bytes: which records verify, where the written data
/// ends, and whether damage at the end is a torn write or real corruption.
struct WALSegmentScan: Sendable {
  /// Records whose chained CRC verified, in file order.
  var frames: [WALFrame] = []
  /// CRC of the last verified record, which seeds the next one.
  var runningCRC: UInt32
  /// Offset just past the last verified record.
  var validEnd = 0
  /// The first record that failed, if the segment does not end cleanly.
  var damage: (offset: Int, reason: String)?
  /// The value the first (carry) record carried, if it verified.
  var carriedCRC: UInt32?

  /// Verifies the records of `bytes` from offset 0 until the end of written
  /// data or the first damaged record.
  ///
  /// - Parameter previousCRC: the running CRC at the end of the previous
  ///   segment, when that segment was read; the carry record must match it.
  init(_ bytes: UnsafeRawBufferPointer, previousCRC: UInt32?) {
    runningCRC = previousCRC ?? 0
    var offset = 0
    while offset < bytes.count {
      switch WALRecord.parseHeader(bytes, at: offset) {
      case .zeroFrame:
        let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
        if !rest.isAllZero {
          damage = (offset, "non-zero bytes after the end of written data")
        }
        return
      case .damaged(let reason):
        damage = (offset, reason)
        return
      case .frame(let frame):
        var seed = runningCRC
        if frames.isEmpty {
          guard frame.type == .crcCarry, frame.payloadLength == 4 else {
            damage = (offset, "segment does not start with a CRC carry record")
            return
          }
          seed = bytes.littleEndianUInt32(at: frame.payloadRange.lowerBound)
        }
        let crc = WALRecord.chainedCRC(bytes, offset: offset, size: frame.size, previous: seed)
        guard crc == frame.storedCRC else {
          damage = (offset, "CRC mismatch")
          return
        }
        if frames.isEmpty {
          if let previousCRC, seed != previousCRC {
            damage = (offset, "CRC chain broken: segment carries \(seed), expected \(previousCRC)")
            return
          }
          carriedCRC = seed
        }
        frames.append(frame)
        runningCRC = crc
        offset = frame.end
        validEnd = offset
      }
    }
  }

  /// Whether damage at `offset` in the last segment is a torn tail (safe to cut
  /// off) rather than corruption in the middle of the log.
  ///
  /// A crash mid-write leaves a prefix of the last batch, or (when the disk
  /// persisted sectors out of order) a batch with never-written zero sectors.
  /// Neither leaves an intact record chained after the damaged one, unless a
  /// zero sector separates them; corruption of synced data does.
  static func isTornTail(
    _ bytes: UnsafeRawBufferPointer, damageAt offset: Int, previousCRC: UInt32
  ) -> Bool {
    guard let next = firstRecordChained(after: offset, in: bytes, previousCRC: previousCRC) else {
      return true
    }
    return containsZeroSector(bytes, offset..<next)
  }

  /// The offset of a record after the damaged one at `damaged` whose CRC
  /// verifies against a seed the damaged record could have left: its stored
  /// CRC (payload or header damaged) or the CRC recomputed over it (the stored
  /// CRC field itself damaged). Every 8-aligned offset is tried, since the
  /// damaged length field cannot be trusted to point at the next record.
  static func firstRecordChained(
    after damaged: Int, in bytes: UnsafeRawBufferPointer, previousCRC: UInt32
  ) -> Int? {
    var seeds: [UInt32] = []
    if damaged + WALRecord.headerSize <= bytes.count {
      seeds.append(bytes.littleEndianUInt32(at: damaged + WALRecord.crcOffset))
    }
    if case .frame(let frame) = WALRecord.parseHeader(bytes, at: damaged) {
      seeds.append(
        WALRecord.chainedCRC(bytes, offset: damaged, size: frame.size, previous: previousCRC))
    }
    var candidate = damaged + WALRecord.alignment
    while candidate + WALRecord.minimumSize <= bytes.count {
      if case .frame(let frame) = WALRecord.parseHeader(bytes, at: candidate) {
        for seed in seeds
        where WALRecord.chainedCRC(bytes, offset: candidate, size: frame.size, previous: seed)
          == frame.storedCRC
        {
          return candidate
        }
      }
      candidate += WALRecord.alignment
    }
    return nil
  }

  /// Whether `range` fully contains a 512-byte-aligned sector of zeros, the
  /// mark of a sector the disk never wrote.
  static func containsZeroSector(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
    let sector = 512
    // Round the start up to a sector boundary; the loop bound keeps the whole
    // sector inside `range`.
    var start = (range.lowerBound + sector - 1) / sector * sector
    while start + sector <= range.upperBound {
      if UnsafeRawBufferPointer(rebasing: bytes[start..<start + sector]).isAllZero {
        return true
      }
      start += sector
    }
    return false
  }
}
