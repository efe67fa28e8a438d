extension WAL {
  /// Deletes the oldest segments whose entries are all covered by the
  /// snapshot at `snapshotIndex`, keeping at least the newest
  /// `minimumSegments` files (etcd's `--max-wals` default is 5) and never a
  /// segment that may hold an entry above `snapshotIndex`.
  ///
  /// Only a prefix of the segment list is deleted, oldest first, so a crash
  /// in the middle leaves consecutive sequence numbers. Later segments repeat
  /// the metadata, hard state and snapshot marker in their heads, so nothing
  /// but covered entries is lost.
  ///
  /// - Returns: the paths deleted, oldest first.
  /// - Throws: `.closed`, `.poisoned`, `.io` (which poisons the WAL).
  /// - Durability: the deletions are durable (directory fsynced) on return.
  @discardableResult
  public func purge(upTo snapshotIndex: UInt64, keeping minimumSegments: Int = 5)
    throws(StorageError) -> [String]
  {
    precondition(minimumSegments >= 1, "the last segment is always kept, got \(minimumSegments)")
    try checkUsable()
    var removable = 0
    // Segment i holds no live entry above (segments[i + 1].firstIndex - 1);
    // see WALSegmentName.firstIndex. firstIndex >= 1 for every segment after
    // the first, since it is lastIndex + 1.
    while removable < segments.count - minimumSegments,
      segments[removable + 1].firstIndex - 1 <= snapshotIndex
    {
      removable += 1
    }
    guard removable > 0 else { return [] }
    var removed: [String] = []
    do throws(StorageError) {
      for name in segments[..<removable] {
        let path = directory + "/" + name.fileName
        try Posix.removeFile(path)
        removed.append(path)
      }
      try Posix.syncDirectory(directory)
    } catch {
      poison = .poisoned(cause: "\(error)")
      throw error
    }
    segments.removeFirst(removable)
    return removed
  }
}
