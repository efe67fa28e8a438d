import EtcdProto
import SwiftProtobuf

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A segment file's name: `%016x-%016x.wal` of its sequence number and the
/// raft index the next entry had when the segment was started.
struct WALSegmentName: Sendable, Equatable, Comparable {
  static let suffix = ".wal"
  /// A segment being created; left over only by a crash, and removed on open.
  static let temporarySuffix = ".wal.tmp"

  var sequence: UInt64
  /// Every entry still live in older segments has an index below this one:
  /// the writer starts a segment at `lastIndex + 1`, and an older entry above
  /// `lastIndex` was already superseded by the write that lowered `lastIndex`.
  var firstIndex: UInt64

  var fileName: String { Posix.hex16(sequence) + "-" + Posix.hex16(firstIndex) + Self.suffix }

  init(sequence: UInt64, firstIndex: UInt64) {
    self.sequence = sequence
    self.firstIndex = firstIndex
  }

  init?(fileName: String) {
    guard let (sequence, firstIndex) = Posix.parseHexPair(fileName, suffix: Self.suffix) else {
      return nil
    }
    self.init(sequence: sequence, firstIndex: firstIndex)
  }

  static func < (lhs: Self, rhs: Self) -> Bool { lhs.sequence < rhs.sequence }
}

/// The state every segment opens with, so that any suffix of the segment list
/// replays on its own: purging old segments never loses the metadata, the
/// latest hard state or the latest snapshot marker.
struct WALSegmentHead: Sendable {
  /// Running CRC at the end of the previous segment (0 for the first one).
  var carriedCRC: UInt32
  var memberID: UInt64
  var clusterID: UInt64
  var metadata: [UInt8]
  var snapshot: WALSnapshotMarker
  var hardState: Raftpb_HardState

  /// The head's four records in order (carry, metadata, snapshot, hard state),
  /// sealed into a chain seeded with `carriedCRC`; returns the bytes and the
  /// CRC of the last record.
  func encode() throws(StorageError) -> (bytes: [UInt8], crc: UInt32) {
    var buffer: [UInt8] = []
    var starts: [Int] = []
    var carry: [UInt8] = []
    carry.appendLittleEndian(carriedCRC)
    var identity: [UInt8] = []
    identity.appendLittleEndian(memberID)
    identity.appendLittleEndian(clusterID)
    identity.append(contentsOf: metadata)
    let records: [(WALRecordType, [UInt8])] = [
      (.crcCarry, carry),
      (.metadata, identity),
      (.snapshot, try WALPayload.encode(snapshot.protobuf)),
      (.hardState, try WALPayload.encode(hardState)),
    ]
    for (type, payload) in records {
      starts.append(buffer.count)
      try WALRecord.append(type, payload: payload, to: &buffer)
    }
    var crc = carriedCRC
    for start in starts { crc = WALRecord.seal(&buffer, at: start, previous: crc) }
    return (buffer, crc)
  }
}

/// The open segment that receives appends.
struct WALTail {
  var name: WALSegmentName
  var path: String
  var fd: Int32
  /// End of written data: the next record goes here.
  var offset: Int
  /// End of the head records; a segment holding only its head is never cut.
  var headEnd: Int
  /// Preallocated size; a batch that would cross it goes to a new segment.
  var capacity: Int

  /// Creates the segment `name` in `directory`, complete with its head, and
  /// returns it open for appends. If a file of that name exists it is replaced.
  ///
  /// Crash safety: the head is written and fsynced under a temporary name and
  /// only then renamed into place, so a segment file is never visible without
  /// its complete head; the directory fsync makes the new name durable before
  /// any record is appended to it.
  static func create(
    directory: String, name: WALSegmentName, head: WALSegmentHead, capacity: Int,
    failpoint: ((WALFailpoint) throws(StorageError) -> Void)?
  ) throws(StorageError) -> (tail: WALTail, crc: UInt32) {
    let (bytes, crc) = try head.encode()
    let path = directory + "/" + name.fileName
    let temporary = path + ".tmp"
    let fd = try Posix.openFile(temporary, flags: O_RDWR | O_CREAT | O_TRUNC)
    do throws(StorageError) {
      try Posix.preallocate(fd, to: max(capacity, bytes.count), path: temporary)
      try Posix.writeAll(fd, bytes[...], at: 0, path: temporary)
      // fsync, not fdatasync: the allocation and size are metadata too.
      try Posix.fullSync(fd, path: temporary)
      try failpoint?(.beforeSegmentRename)
      try Posix.renameFile(temporary, to: path)
      try Posix.syncDirectory(directory)
    } catch {
      Posix.closeFile(fd)
      throw error
    }
    let tail = WALTail(
      name: name, path: path, fd: fd, offset: bytes.count, headEnd: bytes.count,
      capacity: max(capacity, bytes.count))
    return (tail, crc)
  }
}
