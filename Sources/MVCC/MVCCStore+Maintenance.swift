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

  /// etcd's Defragment, in three steps so that the long one, the copy, can
  /// run on another thread while the owner's thread goes on serving reads:
  /// `beginDefragment` (no batch open), `DefragmentCopy.write` on any
  /// thread, then `finishDefragment`. The file is rewritten without its free
  /// pages; the index is untouched, since the data is the same. The caller
  /// must commit nothing in between: the copy holds the state as of the
  /// first step, and `finishDefragment` refuses it if a commit came later.
  public func beginDefragment() throws(MVCCError) -> DefragmentCopy {
    try checkUsable()
    precondition(batch == nil, "defragment with a batch open")
    return DefragmentCopy(
      environment: environment, destination: path + Self.defragmentSuffix,
      transactionID: environment.lastTransactionID)
  }

  /// Puts the copy in place of the file and reopens it.
  ///
  /// - Throws: `.changedDuringDefragment` or `.readersActive` (nothing
  ///   changed, the copy is removed); `.io`, `.lmdb`. A failure after the old
  ///   environment closed poisons the store.
  public func finishDefragment(_ copy: DefragmentCopy) throws(MVCCError) {
    try checkUsable()
    precondition(batch == nil, "defragment with a batch open")
    let mapSize = environment.mapSize
    do throws(MVCCError) {
      guard environment === copy.environment,
        environment.lastTransactionID == copy.transactionID
      else { throw .changedDuringDefragment }
      try environment.closeIfNoReaders()
    } catch {
      try? FileOps.removeIfPresent(copy.destination)
      throw error
    }
    try poisonOnFailure { () throws(MVCCError) in
      // Crash safety: before the rename the old file is the store and the
      // copy a leftover that open deletes; after it the copy is the store.
      // Both hold the same committed state, so either way nothing is lost.
      try FileOps.rename(copy.destination, to: path)
      try FileOps.syncDirectory(FileOps.directory(of: path))
      environment = try LMDBEnvironment(
        path: path, mapSize: mapSize, maxBuckets: MVCCBuckets.names.count,
        durability: options.durability)
      buckets = try MVCCBuckets(environment)
    }
  }
}

/// The middle step of a defragmentation: the copy, safe on any thread.
public struct DefragmentCopy: Sendable {
  let environment: LMDBEnvironment
  let destination: String
  let transactionID: Int

  /// Writes the compacted copy of the committed state and fsyncs it; the
  /// store keeps serving meanwhile.
  public func write() throws(MVCCError) {
    do throws(MVCCError) {
      try environment.copyCompacted(to: destination)
    } catch {
      try? FileOps.removeIfPresent(destination)
      throw error
    }
  }
}
