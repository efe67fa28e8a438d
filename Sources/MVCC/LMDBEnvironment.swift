import CLMDB
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// How much an LMDB commit flushes, and so what a crash can take back.
public enum LMDBDurability: Sendable {
  /// LMDB's default: fdatasync the data pages, then the meta page, per commit.
  /// A commit that returned survives a power loss.
  case syncEachCommit
  /// `MDB_NOMETASYNC`: one fdatasync per commit (the data pages); the meta
  /// page that makes the commit current is flushed by the next commit or
  /// `sync()`. A power loss can undo the last commit but never corrupts the
  /// file: the old meta page still points at intact pages.
  case deferMetaSync
  /// `MDB_NOSYNC`: no flush at commit. A process crash loses nothing (the
  /// kernel holds the pages), but after a power loss the file is intact only
  /// if the filesystem kept the write order, which ext4 and xfs do not
  /// promise: a meta page can land before the pages it points at. Unsafe
  /// unless the machine cannot lose power without the disk cache.
  case noSync

  var flags: UInt32 {
    switch self {
    case .syncEachCommit: 0
    case .deferMetaSync: UInt32(MDB_NOMETASYNC)
    case .noSync: UInt32(MDB_NOSYNC)
    }
  }
}

/// A named database inside the environment (a bbolt "bucket" in etcd's terms).
/// The handle stays valid until the environment closes.
public struct LMDBBucket: Hashable, Sendable {
  public let name: String
  let dbi: MDB_dbi
}

/// One LMDB environment: a single memory-mapped file (`MDB_NOSUBDIR`; the
/// lock file is `path + "-lock"`) holding named buckets.
///
/// # Threads
/// One writer, the owner's thread. Read transactions may run on any thread:
/// the environment is opened with `MDB_NOTLS`, so a reader slot belongs to
/// the transaction, not the thread, and a thread that holds the write
/// transaction can still read committed data in a read transaction.
/// Resizing the map and closing need every read transaction finished, so
/// `read` counts them under a mutex that those operations hold.
///
/// # Borrowed memory
/// Keys and values handed to closures point into the map: valid until the
/// transaction ends or (in a write transaction) the next write. Copy them
/// before the closure returns.
public final class LMDBEnvironment: @unchecked Sendable {
  public let path: String
  public let pageSize: Int
  let handle: OpaquePointer
  private let state = Mutex(ReaderState())

  private struct ReaderState {
    var open = 0
    var closed = false
  }

  /// Opens (creating if missing) the environment file at `path`.
  ///
  /// - Parameters:
  ///   - mapSize: initial size of the memory map, the file's size limit until
  ///     `ensureFreeSpace` grows it; rounded up to a whole MiB.
  ///   - maxBuckets: how many named buckets may ever be opened.
  ///   - durability: flushing at commit, see `LMDBDurability`.
  /// - Throws: `.lmdb` (e.g. `EACCES`, `MDB_INVALID` for a file that is not LMDB).
  public init(path: String, mapSize: Int, maxBuckets: Int, durability: LMDBDurability)
    throws(MVCCError)
  {
    var created: OpaquePointer?
    try LMDB.check(mdb_env_create(&created), "mdb_env_create")
    let env = created!
    do throws(MVCCError) {
      try LMDB.check(mdb_env_set_maxdbs(env, MDB_dbi(maxBuckets)), "mdb_env_set_maxdbs")
      try LMDB.check(mdb_env_set_mapsize(env, LMDB.roundedMapSize(mapSize)), "mdb_env_set_mapsize")
      let flags = UInt32(MDB_NOSUBDIR) | UInt32(MDB_NOTLS) | durability.flags
      try LMDB.check(mdb_env_open(env, path, flags, 0o600), "mdb_env_open \(path)")
      var stat = MDB_stat()
      try LMDB.check(mdb_env_stat(env, &stat), "mdb_env_stat")
      self.pageSize = Int(stat.ms_psize)
    } catch {
      mdb_env_close(env)
      throw error
    }
    self.path = path
    self.handle = env
  }

  deinit {
    let alreadyClosed = state.withLock { $0.closed }
    if !alreadyClosed { mdb_env_close(handle) }
  }

  /// Closes the environment. An open write transaction is the caller's to
  /// abort first. Read transactions on other threads (a backend copy for a
  /// snapshot) are waited for, since their pages would be unmapped under
  /// them. Idempotent.
  public func close() {
    while true {
      let outcome = state.withLock { reader -> Bool? in
        if reader.closed { return false }
        guard reader.open == 0 else { return nil }
        reader.closed = true
        return true
      }
      switch outcome {
      case true?: return mdb_env_close(handle)
      case false?: return
      case nil: usleep(1000)
      }
    }
  }

  /// Opens the named buckets, creating the missing ones, in one committed
  /// write transaction.
  public func openBuckets(_ names: [String]) throws(MVCCError) -> [String: LMDBBucket] {
    let txn = try beginWrite()
    var buckets: [String: LMDBBucket] = [:]
    do throws(MVCCError) {
      for name in names {
        var dbi = MDB_dbi()
        try LMDB.check(
          mdb_dbi_open(txn.handle, name, UInt32(MDB_CREATE), &dbi), "mdb_dbi_open \(name)")
        buckets[name] = LMDBBucket(name: name, dbi: dbi)
      }
    } catch {
      txn.abort()
      throw error
    }
    try txn.commit()
    return buckets
  }

  /// Runs `body` in a read transaction over the latest committed state. Safe
  /// on any thread.
  public func read<Result>(_ body: (LMDBTransaction) throws(MVCCError) -> Result) throws(MVCCError)
    -> Result
  {
    try registerReader()
    defer { state.withLock { $0.open -= 1 } }
    var txn: OpaquePointer?
    try LMDB.check(mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin (read)")
    let transaction = LMDBTransaction(handle: txn!, isReadOnly: true)
    defer { transaction.abort() }
    return try body(transaction)
  }

  /// Starts the write transaction. LMDB allows one at a time per
  /// environment, and it holds a lock owned by this thread: commit or abort
  /// it on this same thread (never across an `await`).
  public func beginWrite() throws(MVCCError) -> LMDBTransaction {
    var txn: OpaquePointer?
    try LMDB.check(mdb_txn_begin(handle, nil, 0, &txn), "mdb_txn_begin (write)")
    return LMDBTransaction(handle: txn!, isReadOnly: false)
  }

  /// Flushes every commit, meta page included, to stable storage. Needed
  /// only with `.deferMetaSync` or `.noSync`.
  public func sync() throws(MVCCError) {
    try LMDB.check(mdb_env_sync(handle, 1), "mdb_env_sync")
  }

  /// Size of the memory map: the most the file can grow to for now.
  public var mapSize: Int { info().me_mapsize }

  /// The ID of the latest committed write transaction: it changes with
  /// every commit.
  public var lastTransactionID: Int { info().me_last_txnid }

  /// Bytes up to and including the highest page ever used, free or not.
  public var usedBytes: Int { (info().me_last_pgno + 1) * pageSize }

  /// Grows the map, when no write transaction is open, so that at least
  /// `bytes` lie past the highest used page: a write transaction that adds
  /// fewer pages than that cannot fail with `MDB_MAP_FULL`. Grows at least
  /// twofold so that growth stays rare. Leaves the map as it is while read
  /// transactions are open on other threads, since remapping would move their
  /// pages; it then returns false.
  @discardableResult
  public func ensureFreeSpace(_ bytes: Int) throws(MVCCError) -> Bool {
    let current = info()
    let used = (current.me_last_pgno + 1) * pageSize
    guard current.me_mapsize - used < bytes else { return true }
    let wanted = max(current.me_mapsize * 2, used + bytes)
    return try state.withLock { reader throws(MVCCError) -> Bool in
      if reader.closed { throw .closed }
      guard reader.open == 0 else { return false }
      try LMDB.check(
        mdb_env_set_mapsize(handle, LMDB.roundedMapSize(wanted)), "mdb_env_set_mapsize")
      return true
    }
  }

  /// Writes a compacted copy (free pages left out, pages renumbered) of the
  /// latest committed state to a new file at `destination` and fsyncs it.
  public func copyCompacted(to destination: String) throws(MVCCError) {
    let fd = try FileOps.create(destination)
    defer { FileOps.close(fd) }
    try copyCompacted(toDescriptor: fd, name: destination)
    try FileOps.sync(fd, path: destination)
  }

  /// Writes a compacted copy of the latest committed state to the open file
  /// `fd`, from its current offset. LMDB copies in its own read transaction,
  /// so writes go on meanwhile; safe on any thread, and counted as a reader
  /// so that closing or resizing waits for it.
  public func copyCompacted(toDescriptor fd: Int32, name: String) throws(MVCCError) {
    try registerReader()
    defer { state.withLock { $0.open -= 1 } }
    try LMDB.check(mdb_env_copyfd2(handle, fd, UInt32(MDB_CP_COMPACT)), "mdb_env_copyfd2 \(name)")
  }

  private func registerReader() throws(MVCCError) {
    try state.withLock { reader throws(MVCCError) in
      if reader.closed { throw .closed }
      reader.open += 1
    }
  }

  /// Closes the environment like `close()`, but throws instead of trapping
  /// when read transactions are open on other threads.
  func closeIfNoReaders() throws(MVCCError) {
    try state.withLock { reader throws(MVCCError) in
      if reader.closed { throw .closed }
      guard reader.open == 0 else { throw .readersActive(count: reader.open) }
      reader.closed = true
    }
    mdb_env_close(handle)
  }

  private func info() -> (me_mapsize: Int, me_last_pgno: Int, me_last_txnid: Int) {
    var info = MDB_envinfo()
    // mdb_env_info only copies fields out of the environment; it cannot fail.
    _ = mdb_env_info(handle, &info)
    return (info.me_mapsize, info.me_last_pgno, info.me_last_txnid)
  }
}

/// Error mapping and constants shared by the wrapper's types.
enum LMDB {
  static func check(_ code: Int32, _ operation: @autoclosure () -> String) throws(MVCCError) {
    guard code != 0 else { return }
    throw .lmdb(operation: operation(), code: code, message: String(cString: mdb_strerror(code)))
  }

  /// Map sizes in whole MiB: a multiple of any page size LMDB uses.
  static func roundedMapSize(_ bytes: Int) -> Int {
    let mebibyte = 1 << 20
    return (max(bytes, mebibyte) + mebibyte - 1) / mebibyte * mebibyte
  }
}

extension LMDBEnvironment {
  /// Bytes of the file's pages that hold data: the pages up to the highest
  /// one used, less those on the free list (LMDB's database 0, whose values
  /// are page-number lists headed by their length) in the last commit.
  public func bytesInUse() throws(MVCCError) -> Int {
    try read { txn throws(MVCCError) in
      var freePages = 0
      try txn.forEach(LMDBBucket(name: "free list", dbi: 0)) { _, value in
        freePages += value.loadUnaligned(as: Int.self)
        return true
      }
      return usedBytes - freePages * pageSize
    }
  }
}
