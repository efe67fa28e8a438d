/// Every error the MVCC store and its LMDB wrapper throw, grouped by phase.
///
/// `compacted` and `futureRevision` are the two that clients see; their
/// `description` is etcd's message, which the server prefixes with
/// "etcdserver: " and sends with gRPC code OutOfRange.
public enum MVCCError: Error, Equatable, Sendable, CustomStringConvertible {
  // MARK: Reads, compaction and hashes

  /// The revision asked for is older than the compacted revision.
  case compacted
  /// The revision asked for is newer than the store's current revision.
  case futureRevision

  // MARK: Storage

  /// An LMDB call failed; `code` is LMDB's or the system's error number.
  case lmdb(operation: String, code: Int32, message: String)
  /// A system call on the store's files failed; `errno` is the POSIX error.
  case io(operation: String, path: String, errno: Int32)
  /// Stored data does not decode; found while rebuilding the index at open.
  case corrupt(reason: String)
  /// A write or commit failed earlier, so the in-memory index may be ahead of
  /// the file; every call throws this until the store is reopened.
  case poisoned(cause: String)
  /// Read transactions on other threads are open; defragmentation needs none.
  case readersActive(count: Int)
  /// A commit came between a defragmentation's copy and its rename.
  case changedDuringDefragment
  /// The store was closed.
  case closed

  public var description: String {
    switch self {
    case .compacted: "mvcc: required revision has been compacted"
    case .futureRevision: "mvcc: required revision is a future revision"
    case .lmdb(let operation, let code, let message): "mvcc: \(operation): \(message) (\(code))"
    case .io(let operation, let path, let errno): "mvcc: \(operation) \(path): errno \(errno)"
    case .corrupt(let reason): "mvcc: corrupt store: \(reason)"
    case .poisoned(let cause): "mvcc: store unusable after an earlier failure: \(cause)"
    case .readersActive(let count): "mvcc: \(count) read transactions are open"
    case .changedDuringDefragment: "mvcc: the store changed while it was being defragmented"
    case .closed: "mvcc: store is closed"
    }
  }
}
