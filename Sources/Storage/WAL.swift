import EtcdProto

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The write-ahead log of a raft member: hard states, entries and snapshot
/// markers, appended in order and replayed on restart.
///
/// # Use
/// `create` once when the member is born, `open` on every restart (it returns
/// what to load into raft storage), then per raft `Ready`: `save(hardState:
/// entries:)` and one `sync()` before the messages that promise that state are
/// sent. `sync` is the group commit: everything saved since the previous one
/// goes out in one write per segment and one fdatasync.
///
/// # Files
/// A directory of segment files `%016x-%016x.wal` (sequence number, the raft
/// index of the next entry when the segment was started), sequence numbers
/// consecutive. Segments are preallocated to the configured size (64 MiB by
/// default); their unwritten tail reads as zeros. A directory lock (`flock`)
/// keeps a second WAL from opening the same directory.
///
/// # Record layout (all integers little-endian; records start 8-aligned)
/// ```
/// offset  size  field
///      0     4  frame length F: header + payload + padding; F % 8 == 0, F >= 16.
///                F == 0 means "end of written data" (the zeroed preallocation).
///      4     1  type: 1 crc-carry, 2 metadata, 3 entry, 4 hard state, 5 snapshot
///      5     1  padding P (0...7): zero bytes after the payload
///      6     2  reserved, zero
///      8     4  CRC-32C, chained: seeded with the previous record's CRC and
///                covering bytes [0, 8) and [12, F) of this record
///     12   F-12-P  payload
///   F-P     P  zero padding
/// ```
/// Payloads: crc-carry = u32 running CRC of the previous segment (0 for the
/// first), and it seeds its own CRC; metadata = u64 member ID, u64 cluster ID,
/// opaque bytes; entry = `Raftpb_Entry`; hard state = `Raftpb_HardState`;
/// snapshot = `Raftpb_SnapshotMetadata` (protobuf encodings).
///
/// Every segment starts with a head of four records: crc-carry, metadata, the
/// latest snapshot marker and the latest hard state (zero values if none), so
/// the newest segments replay on their own after older ones are purged.
///
/// # Recovery
/// `open` verifies every segment in order. The end of the last segment may be
/// torn (a crash during an unsynced write): a damaged record there with no
/// valid record chained after it (or only after a never-written, all-zero
/// 512-byte sector) is cut off and reported. Damage anywhere else is
/// corruption of synced data, and `open` refuses with the file and offset
/// rather than silently dropping acknowledged writes.
///
/// # Caveats
/// - Not thread-safe: one thread (the disk thread) owns a WAL at a time.
/// - Damage confined to the very last record looks exactly like a torn write,
///   so that record is dropped; only media corruption (not a crash) can make
///   this lose a synced record.
/// - `open` reads each segment whole into memory, one at a time.
/// - Durability assumes fdatasync/fsync do what POSIX says; on a failed one
///   the WAL is poisoned and every later call throws, since the kernel may
///   have discarded the dirty pages and a retried fsync would lie.
public final class WAL {
  /// 64 MiB, like etcd: large enough that cuts are rare, small enough to purge.
  public static let defaultSegmentSize = 64 * 1024 * 1024

  /// The WAL directory this instance holds locked.
  public let directory: String
  /// This member's ID, from the metadata record.
  public let memberID: UInt64
  /// The cluster's ID, from the metadata record.
  public let clusterID: UInt64
  /// Opaque bytes from `create`, repeated in the head of every segment.
  public let metadata: [UInt8]
  let segmentSize: Int

  /// Open on `directory` for the lifetime of the WAL; holds the `flock`.
  var directoryFD: Int32
  var tail: WALTail
  /// Every segment on disk, oldest first; the last one is `tail.name`.
  var segments: [WALSegmentName]
  /// CRC of the last record handed to the kernel; seeds the next one.
  var runningCRC: UInt32
  /// Index of the last entry written, raised by snapshot markers; names the
  /// next segment. Invariant: every live entry on disk has index <= lastIndex.
  var lastIndex: UInt64
  var hardState: Raftpb_HardState
  var latestSnapshot: WALSnapshotMarker

  /// Unsealed records saved since the last sync (CRC fields still zero).
  var pending: [UInt8] = []
  var pendingRecords: [WALPendingRecord] = []
  /// Set by the first failed write or fsync; every later call throws it.
  var poison: StorageError?
  var isClosed = false
  /// Test hook called before each write, fdatasync and segment rename.
  var failpoint: ((WALFailpoint) throws(StorageError) -> Void)?

  init(
    directory: String, state: WALSegmentHead, segmentSize: Int, directoryFD: Int32,
    tail: WALTail, segments: [WALSegmentName], runningCRC: UInt32, lastIndex: UInt64
  ) {
    self.directory = directory
    self.memberID = state.memberID
    self.clusterID = state.clusterID
    self.metadata = state.metadata
    self.segmentSize = segmentSize
    self.directoryFD = directoryFD
    self.tail = tail
    self.segments = segments
    self.runningCRC = runningCRC
    self.lastIndex = lastIndex
    self.hardState = state.hardState
    self.latestSnapshot = state.snapshot
  }

  deinit {
    if !isClosed { releaseFiles() }
  }

  /// Creates a new WAL in `directory` (made if missing) with one empty segment
  /// and returns it open for appends.
  ///
  /// - Parameters:
  ///   - memberID, clusterID: identity checked by later `open` calls.
  ///   - metadata: opaque bytes returned by every `open`.
  ///   - segmentSize: preallocated size of each segment file.
  /// - Throws: `.alreadyExists` if the directory holds segments, `.locked`,
  ///   `.io`.
  /// - Durability: when this returns, the directory entry, the first segment
  ///   and its metadata are on stable storage.
  public static func create(
    directory: String, memberID: UInt64, clusterID: UInt64, metadata: [UInt8] = [],
    segmentSize: Int = defaultSegmentSize
  ) throws(StorageError) -> WAL {
    precondition(segmentSize > 0, "segmentSize must be positive, got \(segmentSize)")
    if try Posix.makeDirectory(directory) {
      // The new directory's own name lives in its parent.
      try Posix.syncDirectory(parentDirectory(of: directory))
    }
    let directoryFD = try lockDirectory(directory)
    do throws(StorageError) {
      let names = try Posix.listDirectory(directory)
      guard !names.contains(where: { WALSegmentName(fileName: $0) != nil }) else {
        throw StorageError.alreadyExists(directory: directory)
      }
      try removeTemporaryFiles(names, in: directory)
      let head = WALSegmentHead(
        carriedCRC: 0, memberID: memberID, clusterID: clusterID, metadata: metadata,
        snapshot: WALSnapshotMarker(), hardState: Raftpb_HardState())
      let name = WALSegmentName(sequence: 0, firstIndex: 0)
      // Crash safety: the WAL exists once segment 0 is renamed into place.
      // A crash before that leaves no segment: `open` reports `.notFound`
      // and `create` may simply run again.
      let (tail, crc) = try WALTail.create(
        directory: directory, name: name, head: head, capacity: segmentSize, failpoint: nil)
      return WAL(
        directory: directory, state: head, segmentSize: segmentSize,
        directoryFD: directoryFD, tail: tail, segments: [name], runningCRC: crc, lastIndex: 0)
    } catch {
      Posix.closeFile(directoryFD)
      throw error
    }
  }

  /// Closes the WAL's files and releases the directory lock. Records saved
  /// but not synced are discarded. Never throws, also when poisoned; later
  /// calls throw `.closed`.
  public func close() {
    guard !isClosed else { return }
    isClosed = true
    releaseFiles()
  }

  func releaseFiles() {
    Posix.closeFile(tail.fd)
    // Closing the last descriptor of the open file description drops the flock.
    Posix.closeFile(directoryFD)
  }

  func checkUsable() throws(StorageError) {
    if isClosed { throw .closed }
    if let poison { throw poison }
  }

  /// Opens `directory` and takes an exclusive, non-blocking `flock` on it.
  static func lockDirectory(_ directory: String) throws(StorageError) -> Int32 {
    let fd = try Posix.openFile(directory, flags: O_RDONLY | O_DIRECTORY)
    // A lock just released can still be held for an instant by a child being
    // spawned (its copy of the descriptor lives until exec closes it), so a
    // conflict is retried for about 100 ms before it counts.
    for attempt in 0..<50 {
      if flock(fd, LOCK_EX | LOCK_NB) == 0 { return fd }
      let code = errno
      if code != EWOULDBLOCK {
        Posix.closeFile(fd)
        throw Posix.failure("flock", directory, code)
      }
      if attempt < 49 { usleep(2000) }
    }
    Posix.closeFile(fd)
    throw .locked(directory: directory)
  }

  /// Deletes segments a crash left half-created; they never held a record
  /// anyone was promised, since appends only go to renamed segments.
  static func removeTemporaryFiles(_ names: [String], in directory: String) throws(StorageError) {
    let leftovers = names.filter { $0.hasSuffix(WALSegmentName.temporarySuffix) }
    guard !leftovers.isEmpty else { return }
    for name in leftovers { try Posix.removeFile(directory + "/" + name) }
    try Posix.syncDirectory(directory)
  }

  static func parentDirectory(of path: String) -> String {
    var trimmed = Substring(path)
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
    guard let slash = trimmed.lastIndex(of: "/") else { return "." }
    return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
  }
}
