#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

extension WAL {
  /// Opens an existing WAL, replays it and returns it ready for appends.
  ///
  /// Reads every segment in order and verifies the CRC chain across all of
  /// them. A torn tail in the last segment is cut off (zeroed, preallocated
  /// again, fsynced) and reported in `WALReplay.tornTail`.
  ///
  /// - Parameters:
  ///   - expectedMemberID, expectedClusterID: when given, must match the
  ///     metadata record.
  ///   - snapshot: the snapshot the caller restored (from `Snapshotter`);
  ///     entries at or below its index are skipped. Index 0 means none.
  ///   - segmentSize: preallocated size of segments created from now on (the
  ///     last segment is grown to it if smaller).
  /// - Throws: `.notFound`, `.locked`, `.missingSegment`, `.corruptRecord`
  ///   (damage that is not a torn tail; names file and offset), `.entryGap`,
  ///   `.snapshotNotFound` (no marker with that index and term),
  ///   `.identityMismatch`, `.io`.
  /// - Durability: any repair is on stable storage before this returns.
  public static func open(
    directory: String, expectedMemberID: UInt64? = nil, expectedClusterID: UInt64? = nil,
    after snapshot: WALSnapshotMarker = WALSnapshotMarker(),
    segmentSize: Int = defaultSegmentSize
  ) throws(StorageError) -> (wal: WAL, replay: WALReplay) {
    precondition(segmentSize > 0, "segmentSize must be positive, got \(segmentSize)")
    let directoryFD = try lockDirectory(directory)
    do throws(StorageError) {
      let names = try Posix.listDirectory(directory)
      try removeTemporaryFiles(names, in: directory)
      let segments = names.compactMap(WALSegmentName.init(fileName:)).sorted()
      guard let first = segments.first else { throw StorageError.notFound(directory: directory) }
      for (position, name) in segments.enumerated()
      where name.sequence != first.sequence + UInt64(position) {
        throw StorageError.missingSegment(
          directory: directory, expectedSequence: first.sequence + UInt64(position))
      }
      var reader = WALReader(after: snapshot)
      for (position, name) in segments.enumerated() {
        try reader.read(
          directory + "/" + name.fileName, isFirst: position == 0 && name.sequence == 0,
          isLast: position == segments.count - 1)
      }
      let replay = try reader.finish(
        expectedMemberID: expectedMemberID, expectedClusterID: expectedClusterID)
      let (tail, crc) = try reopenTail(
        directory: directory, name: segments[segments.count - 1], reader: reader,
        capacity: segmentSize)
      let wal = WAL(
        directory: directory, state: reader.head(carriedCRC: crc), segmentSize: segmentSize,
        directoryFD: directoryFD, tail: tail, segments: segments, runningCRC: crc,
        lastIndex: reader.lastIndex)
      return (wal, replay)
    } catch {
      Posix.closeFile(directoryFD)
      throw error
    }
  }

  /// Prepares the last segment for appends: repairs a torn tail and makes
  /// sure the preallocated region ahead of the writer reads as zeros.
  private static func reopenTail(
    directory: String, name: WALSegmentName, reader: WALReader, capacity: Int
  ) throws(StorageError) -> (WALTail, UInt32) {
    guard let last = reader.lastSegment else { preconditionFailure("no segment was read") }
    if last.headEnd == nil {
      // The head itself is incomplete (only reachable through damage, since
      // segments appear with their head already fsynced): rebuild the segment
      // from the state replayed so far, atomically by rename.
      guard let carried = last.carriedCRC ?? reader.crcBeforeLastSegment else {
        throw StorageError.corruptRecord(
          file: last.path, offset: 0, reason: "head of the only segment is damaged")
      }
      return try WALTail.create(
        directory: directory, name: name, head: reader.head(carriedCRC: carried),
        capacity: capacity, failpoint: nil)
    }
    let fd = try Posix.openFile(last.path, flags: O_RDWR)
    do throws(StorageError) {
      let size = try Posix.fileSize(fd, path: last.path)
      let target = max(capacity, last.validEnd)
      if last.torn || size < target {
        // Crash safety of the repair: zero everything after the last valid
        // record before anything new is appended, so stale bytes of the torn
        // write can never be mistaken for records chained after new ones.
        if last.torn { try Posix.truncateFile(fd, to: last.validEnd, path: last.path) }
        try Posix.preallocate(fd, to: max(target, size), path: last.path)
        try Posix.fullSync(fd, path: last.path)
      }
      let tail = WALTail(
        name: name, path: last.path, fd: fd, offset: last.validEnd, headEnd: last.headEnd!,
        capacity: max(target, size))
      return (tail, reader.runningCRC)
    } catch {
      Posix.closeFile(fd)
      throw error
    }
  }
}
