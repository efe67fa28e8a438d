import EtcdProto

/// A record in the pending buffer and what writing it changes in the WAL's
/// view of the log (used for the head of a segment cut after it).
struct WALPendingRecord: Sendable {
  enum Effect: Sendable {
    case entry(index: UInt64)
    case hardState(Raftpb_HardState)
    case snapshot(WALSnapshotMarker)
  }

  /// Offset just past the record in `WAL.pending`.
  var end: Int
  var effect: Effect
}

extension WAL {
  /// Queues `entries`, then `hardState`, for the next `sync()`. Encodes into
  /// memory only: no system call, nothing durable yet.
  ///
  /// Entries whose index is at or below an earlier entry's replace that entry
  /// and everything after it on replay (a follower truncating a conflicting
  /// suffix). Entries first, so a replayed hard state never precedes the
  /// entries written with it.
  ///
  /// - Throws: `.closed`, `.poisoned`, `.recordTooLarge`, `.unencodable`; on
  ///   these nothing of this call is queued.
  public func save(hardState: Raftpb_HardState?, entries: [Raftpb_Entry]) throws(StorageError) {
    try checkUsable()
    let pendingBytes = pending.count
    let pendingCount = pendingRecords.count
    do throws(StorageError) {
      for entry in entries {
        try append(.entry, try WALPayload.encode(entry), effect: .entry(index: entry.index))
      }
      if let hardState {
        try append(.hardState, try WALPayload.encode(hardState), effect: .hardState(hardState))
      }
    } catch {
      pending.removeSubrange(pendingBytes...)
      pendingRecords.removeSubrange(pendingCount...)
      throw error
    }
  }

  /// Group commit: writes every record saved since the last sync, one write
  /// call per segment touched, and makes them durable with one fdatasync (one
  /// more per segment filled along the way).
  ///
  /// When the current segment is full, it is fdatasynced and a new segment is
  /// created (temp file, fsync, rename, directory fsync) before the remaining
  /// records go to it. A record larger than a segment gets a segment of its own.
  ///
  /// - Returns: how many records and bytes became durable; zeros, without any
  ///   system call, if nothing was pending.
  /// - Throws: `.closed`, `.poisoned`, `.io`. After an `.io` failure the WAL is
  ///   poisoned: whether the records reached the disk is unknown, and the
  ///   member must stop and recover from the files with `open`.
  /// - Durability: when this returns, every saved record survives a crash.
  @discardableResult
  public func sync() throws(StorageError) -> WALSyncResult {
    try checkUsable()
    guard !pendingRecords.isEmpty else {
      return WALSyncResult(records: 0, bytes: 0, segmentsCreated: 0)
    }
    do throws(StorageError) {
      let result = try writePending()
      pending.removeAll(keepingCapacity: true)
      pendingRecords.removeAll(keepingCapacity: true)
      return result
    } catch {
      poison = .poisoned(cause: "\(error)")
      throw error
    }
  }

  /// Records a snapshot marker and syncs it (with anything else pending), so
  /// `open(after:)` can find where replay may start.
  ///
  /// Save the snapshot file itself first (`Snapshotter.save`): a marker in the
  /// WAL promises that the snapshot exists.
  ///
  /// - Throws: as `sync()`.
  /// - Durability: durable when this returns.
  @discardableResult
  public func saveSnapshotMarker(_ marker: WALSnapshotMarker) throws(StorageError) -> WALSyncResult
  {
    try checkUsable()
    try append(.snapshot, try WALPayload.encode(marker.protobuf), effect: .snapshot(marker))
    return try sync()
  }

  private func append(
    _ type: WALRecordType, _ payload: [UInt8], effect: WALPendingRecord.Effect
  ) throws(StorageError) {
    try WALRecord.append(type, payload: payload, to: &pending)
    pendingRecords.append(WALPendingRecord(end: pending.count, effect: effect))
  }

  /// The commit path. Order per segment: seal the records into the CRC chain,
  /// one pwrite, fdatasync; a cut fdatasyncs the full segment before the next
  /// one becomes visible, so only the last segment can ever hold a torn write.
  private func writePending() throws(StorageError) -> WALSyncResult {
    var chunkStart = 0
    var recordStart = 0
    var segmentsCreated = 0
    for record in pendingRecords {
      let chunkEnd = tail.offset + (recordStart - chunkStart)
      let recordSize = record.end - recordStart
      if chunkEnd + recordSize > tail.capacity && chunkEnd > tail.headEnd {
        // Crash safety: the full segment is durable before its successor's
        // name appears (the rename in cut), so every segment but the last is
        // complete on disk and damage in one is corruption, never a torn write.
        try writeAndSync(chunkStart..<recordStart)
        try cut()
        segmentsCreated += 1
        chunkStart = recordStart
      }
      runningCRC = WALRecord.seal(&pending, at: recordStart, previous: runningCRC)
      apply(record.effect)
      recordStart = record.end
    }
    // The commit point: once the fdatasync in here returns, the batch is on
    // stable storage. Before it, any part of the chunk may or may not have
    // reached the disk; it is all in the last segment, whose unsynced end
    // open treats as a possible torn tail.
    try writeAndSync(chunkStart..<pending.count)
    return WALSyncResult(
      records: pendingRecords.count, bytes: pending.count, segmentsCreated: segmentsCreated)
  }

  private func apply(_ effect: WALPendingRecord.Effect) {
    switch effect {
    case .entry(let index):
      lastIndex = index
    case .hardState(let state):
      hardState = state
    case .snapshot(let marker):
      lastIndex = max(lastIndex, marker.index)
      if marker.index >= latestSnapshot.index { latestSnapshot = marker }
    }
  }

  /// One pwrite of `range` of the pending buffer at the tail's end, then one
  /// fdatasync (which also persists the size when a large record grew the
  /// file). Nothing to do for an empty range: the tail is already synced.
  private func writeAndSync(_ range: Range<Int>) throws(StorageError) {
    guard !range.isEmpty else { return }
    try failpoint?(.beforeWrite)
    try Posix.writeAll(tail.fd, pending[range], at: tail.offset, path: tail.path)
    tail.offset += range.count
    try failpoint?(.beforeDataSync)
    try Posix.dataSync(tail.fd, path: tail.path)
  }

  /// Starts the next segment. Its head repeats the state as of this point in
  /// the record stream, and its name records `lastIndex + 1`.
  private func cut() throws(StorageError) {
    let name = WALSegmentName(sequence: tail.name.sequence + 1, firstIndex: lastIndex + 1)
    let head = WALSegmentHead(
      carriedCRC: runningCRC, memberID: memberID, clusterID: clusterID, metadata: metadata,
      snapshot: latestSnapshot, hardState: hardState)
    let (next, crc) = try WALTail.create(
      directory: directory, name: name, head: head, capacity: segmentSize, failpoint: failpoint)
    Posix.closeFile(tail.fd)
    tail = next
    segments.append(name)
    runningCRC = crc
  }
}
