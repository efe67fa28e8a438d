import EtcdProto
import SwiftProtobuf

/// Replay state accumulated across segments, oldest first.
struct WALReader {
  struct LastSegment {
    var path: String
    var validEnd: Int
    /// Offset after the four head records; nil if the head is incomplete.
    var headEnd: Int?
    var carriedCRC: UInt32?
    var torn: Bool
  }

  let after: WALSnapshotMarker
  var identity: (memberID: UInt64, clusterID: UInt64, metadata: [UInt8])?
  var hardState = Raftpb_HardState()
  var entries: [Raftpb_Entry] = []
  var latestSnapshot = WALSnapshotMarker()
  var sawMarker = false
  var foundAfterMarker: Bool
  var lastIndex: UInt64 = 0
  /// CRC of the last verified record of the segments read so far.
  var runningCRC: UInt32 = 0
  var segmentsRead = 0
  /// Running CRC at the end of the segment before the last, if one was read.
  var crcBeforeLastSegment: UInt32?
  var lastSegment: LastSegment?
  var tornTail: WALTornTail?

  init(after: WALSnapshotMarker) {
    self.after = after
    self.foundAfterMarker = after.index == 0
  }

  /// Verifies and applies one segment. Damage is fatal unless this is the last
  /// segment and the damage is a torn tail.
  mutating func read(_ path: String, isFirst: Bool, isLast: Bool) throws(StorageError) {
    let bytes = try Posix.readFile(path)
    let previous: UInt32? = isFirst ? 0 : segmentsRead > 0 ? runningCRC : nil
    let scan = bytes.withUnsafeBytes { WALSegmentScan($0, previousCRC: previous) }
    var torn = false
    if let damage = scan.damage {
      let isTorn =
        isLast
        && bytes.withUnsafeBytes {
          WALSegmentScan.isTornTail($0, damageAt: damage.offset, previousCRC: scan.runningCRC)
        }
      guard isTorn else {
        throw .corruptRecord(file: path, offset: damage.offset, reason: damage.reason)
      }
      tornTail = WALTornTail(file: path, offset: scan.validEnd, reason: damage.reason)
      torn = true
    }
    let headTypes: [WALRecordType] = [.crcCarry, .metadata, .snapshot, .hardState]
    for (position, frame) in scan.frames.enumerated() {
      if position < headTypes.count && frame.type != headTypes[position] {
        throw .corruptRecord(
          file: path, offset: frame.offset, reason: "segment head out of order: \(frame.type)")
      }
      try apply(frame, bytes: bytes, path: path)
    }
    let headComplete = scan.frames.count >= headTypes.count
    if !headComplete && !isLast {
      throw .corruptRecord(file: path, offset: scan.validEnd, reason: "segment head incomplete")
    }
    if !headComplete && tornTail == nil {
      tornTail = WALTornTail(file: path, offset: scan.validEnd, reason: "segment head incomplete")
    }
    crcBeforeLastSegment = segmentsRead > 0 ? runningCRC : nil
    runningCRC = scan.runningCRC
    segmentsRead += 1
    lastSegment = LastSegment(
      path: path, validEnd: scan.validEnd,
      headEnd: headComplete ? scan.frames[headTypes.count - 1].end : nil,
      carriedCRC: scan.carriedCRC, torn: torn)
  }

  private mutating func apply(_ frame: WALFrame, bytes: [UInt8], path: String) throws(StorageError)
  {
    let payload = Array(bytes[frame.payloadRange])
    func decode<M: SwiftProtobuf.Message>(_: M.Type) throws(StorageError) -> M {
      do {
        return try M(serializedBytes: payload)
      } catch {
        throw .corruptRecord(file: path, offset: frame.offset, reason: "undecodable \(frame.type)")
      }
    }
    switch frame.type {
    case .crcCarry:
      break
    case .metadata:
      guard payload.count >= 16 else {
        throw .corruptRecord(file: path, offset: frame.offset, reason: "short metadata record")
      }
      let found = payload.withUnsafeBytes {
        ($0.littleEndianUInt64(at: 0), $0.littleEndianUInt64(at: 8), Array(payload[16...]))
      }
      if let identity, identity != found {
        throw .corruptRecord(
          file: path, offset: frame.offset, reason: "metadata differs from earlier segments")
      }
      identity = found
    case .entry:
      try apply(decode(Raftpb_Entry.self), path: path, offset: frame.offset)
    case .hardState:
      hardState = try decode(Raftpb_HardState.self)
    case .snapshot:
      let marker = WALSnapshotMarker(try decode(Raftpb_SnapshotMetadata.self))
      lastIndex = max(lastIndex, marker.index)
      if marker.index >= latestSnapshot.index { latestSnapshot = marker }
      if marker.index > 0 { sawMarker = true }
      if marker.index == after.index && marker.term == after.term { foundAfterMarker = true }
    }
  }

  /// Appends `entry`, first dropping any replayed suffix it overwrites.
  private mutating func apply(_ entry: Raftpb_Entry, path: String, offset: Int) throws(StorageError)
  {
    lastIndex = entry.index
    // Entries up to the snapshot are in the snapshot already.
    guard entry.index > after.index else { return }
    // entries holds consecutive indexes after.index + 1 ... , so an entry at or
    // below the last one replaces from position entry.index - after.index - 1.
    if let last = entries.last, entry.index <= last.index {
      entries.removeSubrange(Int(entry.index - after.index - 1)...)
    }
    let expected = after.index + 1 + UInt64(entries.count)
    guard entry.index == expected else {
      throw .entryGap(file: path, offset: offset, expectedIndex: expected, foundIndex: entry.index)
    }
    entries.append(entry)
  }

  func finish(expectedMemberID: UInt64?, expectedClusterID: UInt64?) throws(StorageError)
    -> WALReplay
  {
    guard let identity else {
      throw .corruptRecord(
        file: lastSegment?.path ?? "", offset: 0, reason: "no metadata record in any segment")
    }
    if (expectedMemberID.map { $0 != identity.memberID } ?? false)
      || (expectedClusterID.map { $0 != identity.clusterID } ?? false)
    {
      throw .identityMismatch(
        expectedMemberID: expectedMemberID, expectedClusterID: expectedClusterID,
        memberID: identity.memberID, clusterID: identity.clusterID)
    }
    guard foundAfterMarker else { throw .snapshotNotFound(index: after.index, term: after.term) }
    return WALReplay(
      memberID: identity.memberID, clusterID: identity.clusterID, metadata: identity.metadata,
      hardState: hardState, entries: entries, latestSnapshot: sawMarker ? latestSnapshot : nil,
      tornTail: tornTail)
  }

  /// The head a rebuilt or newly cut segment gets from the replayed state.
  func head(carriedCRC: UInt32) -> WALSegmentHead {
    WALSegmentHead(
      carriedCRC: carriedCRC, memberID: identity?.memberID ?? 0,
      clusterID: identity?.clusterID ?? 0, metadata: identity?.metadata ?? [],
      snapshot: latestSnapshot, hardState: hardState)
  }
}
