extension MVCCStore {
  /// Size of the data file in bytes (Status' db_size).
  public func dbSize() throws(MVCCError) -> Int {
    try checkUsable()
    return try FileOps.size(path)
  }

  /// Bytes of the file in pages that hold data (Status' db_size_in_use):
  /// every page up to the highest one used, less the pages on LMDB's free
  /// list as of the last commit. Defragmenting shrinks the file to about this.
  public func dbSizeInUse() throws(MVCCError) -> Int {
    try checkUsable()
    return try environment.bytesInUse()
  }

  /// Flushes every commit, meta page included, to stable storage.
  public func sync() throws(MVCCError) {
    try checkUsable()
    try environment.sync()
  }

  /// Rewrites the data file without its free pages, as etcd's Defragment:
  /// a compacted copy of the committed state goes to `path + ".defrag"`, is
  /// fsynced, and is renamed over the file. The index is untouched, since
  /// the data is the same.
  ///
  /// Needs no batch open and no read transaction on other threads.
  ///
  /// - Throws: `.readersActive` (nothing changed); `.io`, `.lmdb`. A failure
  ///   after the old environment closed poisons the store.
  public func defragment() throws(MVCCError) {
    try checkUsable()
    precondition(batch == nil, "defragment with a batch open")
    let copy = path + Self.defragmentSuffix
    let mapSize = environment.mapSize
    do throws(MVCCError) {
      try environment.copyCompacted(to: copy)
      try environment.closeIfNoReaders()
    } catch {
      try? FileOps.removeIfPresent(copy)
      throw error
    }
    try poisonOnFailure { () throws(MVCCError) in
      // Crash safety: before the rename the old file is the store and the
      // copy a leftover that open deletes; after it the copy is the store.
      // Both hold the same committed state, so either way nothing is lost.
      try FileOps.rename(copy, to: path)
      try FileOps.syncDirectory(FileOps.directory(of: path))
      environment = try LMDBEnvironment(
        path: path, mapSize: mapSize, maxBuckets: MVCCBuckets.names.count,
        durability: options.durability)
      buckets = try MVCCBuckets(environment)
    }
  }
}
