/// Every error the WAL and the snapshotter throw, grouped by the phase that
/// raises them. Paths are the full paths of the files involved.
public enum StorageError: Error, Equatable, Sendable {
  // MARK: System calls (any phase)

  /// A system call failed; `errno` is the raw POSIX error number.
  case io(operation: String, path: String, errno: Int32)

  // MARK: Create and open

  /// `WAL.create` found segment files already in the directory.
  case alreadyExists(directory: String)
  /// `WAL.open` found no segment file in the directory.
  case notFound(directory: String)
  /// Another open WAL (this process or another) holds the directory lock.
  case locked(directory: String)
  /// The metadata record names another member or cluster than the caller expects.
  case identityMismatch(
    expectedMemberID: UInt64?, expectedClusterID: UInt64?, memberID: UInt64, clusterID: UInt64)
  /// A segment file is missing: sequence numbers must be consecutive.
  case missingSegment(directory: String, expectedSequence: UInt64)

  // MARK: Replay

  /// A damaged record that is not a torn tail: in a non-last segment, or followed
  /// by a valid record. `offset` is the record's first byte in `file`.
  case corruptRecord(file: String, offset: Int, reason: String)
  /// Replayed entries skip an index (e.g. segments after the snapshot are gone).
  case entryGap(file: String, offset: Int, expectedIndex: UInt64, foundIndex: UInt64)
  /// No snapshot marker with this index and term was found in the WAL.
  case snapshotNotFound(index: UInt64, term: UInt64)

  // MARK: Append

  /// One record cannot exceed the 32-bit frame length.
  case recordTooLarge(bytes: Int)
  /// protobuf refused to encode a message (it only does so beyond 2 GiB).
  case unencodable(reason: String)
  /// An earlier write or fsync failed; the WAL refuses every call from then on.
  case poisoned(cause: String)
  /// The WAL was closed.
  case closed

  // MARK: Snapshots

  /// A snapshot file is truncated, fails its CRC, or disagrees with its name.
  case badSnapshotFile(file: String, reason: String)
}
