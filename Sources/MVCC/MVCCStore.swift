import EtcdProto
import SwiftProtobuf

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// etcd 3.4's multi-version key-value store (its `mvcc` package) on LMDB.
///
/// # Model
/// Every write transaction (one Put, one DeleteRange, or one whole Txn) that
/// changes something gets the next main revision; each change in it gets a
/// sub revision. A fresh store is at revision 1, so the first write is 2.
/// Every change is a row of the "key" bucket keyed by its revision, whose
/// value is the key's `Mvccpb_KeyValue` after the change (a deletion stores
/// just the key, under a revision key ending in "t"). An in-memory
/// `KeyIndex` maps each key to its revisions; it is rebuilt from the rows at
/// open. Reads at any revision from the compacted revision on see exactly
/// the state after that revision.
///
/// # Writes, batches and what reads see
/// `write` runs one logical transaction. Several of them (and the consistent
/// index) can share one LMDB write transaction: `beginBatch`, any number of
/// writes, `setConsistentIndex`, `commitBatch`. Reads on the owner's thread
/// go through the open batch, so they see every applied write, committed to
/// LMDB or not. etcd's reads do the same (its read buffer holds writes not
/// yet committed to bbolt), and it is safe because an applied entry is
/// already committed in Raft. Read transactions on other threads
/// (`environment.read`) see only committed batches.
///
/// # Durability
/// Commits are not flushed one by one: by default (`.deferMetaSync`) a
/// commit costs one fdatasync and a power loss may undo the latest commit,
/// never corrupt the file. After a crash LMDB is at some earlier committed
/// state, and the consistent index committed in that same state tells the
/// server where to replay the Raft WAL from. `sync()` makes everything
/// committed durable; the server calls it before it lets the WAL drop the
/// entries the store has applied.
///
/// # Caveats
/// - Single-threaded: the owner's thread (the event loop) makes every call.
///   LMDB ties the write transaction to the thread that began it, so a
///   batch must also be committed there.
/// - A failure after a logical transaction has changed something (or any
///   failed LMDB write or commit) poisons the store: the index may be ahead
///   of the file, and only reopening (then replaying the WAL) recovers.
/// - The whole index lives in memory, as in etcd: about 150 bytes per key
///   plus 16 per surviving revision.
public final class MVCCStore {
  /// Tuning for `init(path:options:)`.
  public struct Options: Sendable {
    /// Starting size of the memory map; it grows as needed (see
    /// `minimumFreeSpace`). The server can set it from its space quota plus
    /// `minimumFreeSpace`, so that the map never has to grow below the quota.
    public var initialMapSize = 256 << 20
    /// Before each LMDB write transaction the map is grown so that at least
    /// this much lies free past the file's end. A batch that writes more than
    /// this can fail with `MDB_MAP_FULL`, which poisons the store.
    public var minimumFreeSpace = 128 << 20
    public var durability = LMDBDurability.deferMetaSync

    public init() {}
  }

  /// The data file; its lock file is `path + "-lock"`.
  public let path: String
  let options: Options
  public internal(set) var environment: LMDBEnvironment
  public internal(set) var buckets: MVCCBuckets
  var index: KeyIndex

  /// Revision of the latest write transaction that changed something (1 in a
  /// fresh store).
  public internal(set) var currentRevision: Int64
  /// The latest compaction revision asked for, -1 if never: reads below it
  /// fail with `.compacted`.
  public internal(set) var compactRevision: Int64
  /// The raft index of the last entry applied, as set by `setConsistentIndex`
  /// (committed with the next LMDB commit).
  public internal(set) var consistentIndex: UInt64
  /// Whether `consistentIndex` changed since the last commit.
  var consistentIndexChanged = false
  /// The open LMDB write transaction, if a batch is open.
  var batch: LMDBTransaction?
  /// Set while a `write` body runs, so that writes do not nest.
  var isWriting = false
  var compaction: CompactionJob?
  /// The first failure that left memory and file out of step.
  var poison: MVCCError?
  var isClosed = false

  /// Opens the store in the file at `path` (created if missing), rebuilds
  /// the index from the key bucket and schedules any compaction a crash
  /// interrupted (`compactStep` finishes it).
  ///
  /// - Throws: `.lmdb`, `.io`, `.corrupt` for a row that does not decode.
  public init(path: String, options: Options = Options()) throws(MVCCError) {
    // A defragmentation copy that was never renamed into place.
    try FileOps.removeIfPresent(path + Self.defragmentSuffix)
    // A received copy that was never renamed into place (see `replace`).
    try FileOps.removeIfPresent(path + Self.incomingSuffix)
    let environment = try LMDBEnvironment(
      path: path, mapSize: options.initialMapSize, maxBuckets: MVCCBuckets.names.count,
      durability: options.durability)
    self.path = path
    self.options = options
    self.environment = environment
    let buckets = try MVCCBuckets(environment)
    self.buckets = buckets
    let restored = try environment.read { txn throws(MVCCError) in
      try Restore.load(txn, buckets: buckets)
    }
    index = restored.index
    consistentIndex = restored.consistentIndex
    compactRevision = restored.finishedCompact
    currentRevision = restored.lastRevision
    if let scheduled = restored.scheduledCompact, scheduled > restored.finishedCompact {
      compactRevision = scheduled
      compaction = CompactionJob(
        revision: compactRevision, keep: index.compact(at: compactRevision), next: [])
    }
    // Compaction may have removed every row up to the compacted revision.
    currentRevision = max(currentRevision, compactRevision)
  }

  deinit { close() }

  /// Closes the store. An open batch is aborted, which is what a crash
  /// would do to it. Idempotent.
  public func close() {
    guard !isClosed else { return }
    isClosed = true
    batch?.abort()
    batch = nil
    environment.close()
  }

  func checkUsable() throws(MVCCError) {
    if isClosed { throw .closed }
    if let poison { throw poison }
  }

  /// Runs `body`; a failure poisons the store. For commits: a failed one
  /// loses writes the index already holds.
  func poisonOnFailure<Result>(_ body: () throws(MVCCError) -> Result) throws(MVCCError) -> Result {
    do throws(MVCCError) {
      return try body()
    } catch {
      if poison == nil { poison = .poisoned(cause: error.description) }
      throw error
    }
  }

  /// The key-bucket value of the row at `revision`.
  func readRow(_ txn: LMDBTransaction, _ revision: Revision, tombstone: Bool = false)
    throws(MVCCError) -> Mvccpb_KeyValue
  {
    let row = try txn.value(buckets.key, revision.bytes(tombstone: tombstone)) { Data($0) }
    guard let row else {
      preconditionFailure("the index holds revision \(revision) but the key bucket has no row")
    }
    return try Self.decode(row, at: revision)
  }

  func writeRow(
    _ txn: LMDBTransaction, _ revision: Revision, tombstone: Bool, _ kv: Mvccpb_KeyValue
  )
    throws(MVCCError)
  {
    let bytes: [UInt8]
    do {
      bytes = try kv.serializedBytes()
    } catch {
      // protobuf refuses only messages over 2 GiB; requests are capped far below.
      preconditionFailure("cannot encode the key-value at \(revision): \(error)")
    }
    try txn.put(buckets.key, revision.bytes(tombstone: tombstone), bytes)
  }

  static func decode(_ row: Data, at revision: Revision) throws(MVCCError) -> Mvccpb_KeyValue {
    do {
      return try Mvccpb_KeyValue(serializedBytes: row)
    } catch {
      throw .corrupt(reason: "row \(revision) of the key bucket: \(error)")
    }
  }

  static let defragmentSuffix = ".defrag"
}
