import EtcdProto
import SwiftProtobuf

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Raft snapshot files: `%016x-%016x.snap` (term, index) in one directory,
/// each written atomically and checked on load. `removeOld(keeping:)`
/// deletes all but the newest.
///
/// File layout (integers little-endian):
/// ```
/// offset  size  field
///      0     4  magic "swsn"
///      4     4  CRC-32C of bytes [8, 16 + N)
///      8     8  N, length of the body
///     16     N  body: the `Raftpb_Snapshot` protobuf encoding
/// ```
/// The name must agree with the body's metadata (term, index); a file that
/// does not is treated as damaged.
public struct Snapshotter: Sendable {
  /// How many snapshot files are kept by default, as etcd's
  /// `--max-snapshots`.
  public static let defaultRetained = 5

  static let suffix = ".snap"
  static let magic: [UInt8] = Array("swsn".utf8)
  static let headerSize = 16

  /// The directory holding the snapshot files.
  public let directory: String

  /// Opens (creating if needed) a snapshot directory and removes temporary
  /// files a crash left behind.
  ///
  /// - Throws: `.io`.
  public init(directory: String) throws(StorageError) {
    self.directory = directory
    if try Posix.makeDirectory(directory) {
      try Posix.syncDirectory(WAL.parentDirectory(of: directory))
    }
    let leftovers = try Posix.listDirectory(directory).filter { $0.hasSuffix(Self.suffix + ".tmp") }
    for name in leftovers { try Posix.removeFile(directory + "/" + name) }
    if !leftovers.isEmpty { try Posix.syncDirectory(directory) }
  }

  /// Writes `snapshot` to its own file.
  ///
  /// - Throws: `.unencodable`, `.io`. On failure no partial file is visible.
  /// - Durability: durable when this returns. Save the snapshot before the
  ///   WAL's snapshot marker, so a marker never points at a missing snapshot.
  public func save(_ snapshot: Raftpb_Snapshot) throws(StorageError) {
    let body = try WALPayload.encode(snapshot)
    var bytes = Self.magic
    var covered: [UInt8] = []
    covered.appendLittleEndian(UInt64(body.count))
    covered.append(contentsOf: body)
    bytes.appendLittleEndian(CRC32C.checksum(covered))
    bytes.append(contentsOf: covered)

    let path =
      directory + "/" + Self.fileName(term: snapshot.metadata.term, index: snapshot.metadata.index)
    let temporary = path + ".tmp"
    do throws(StorageError) {
      // Crash safety: the content is fsynced before the name appears, so the
      // final name never refers to a partial file; the directory fsync makes
      // the rename itself durable.
      try Posix.writeNewFile(temporary, bytes)
      try Posix.renameFile(temporary, to: path)
      try Posix.syncDirectory(directory)
    } catch {
      try? Posix.removeFile(temporary)
      throw error
    }
  }

  /// The newest snapshot file that verifies, newest by index; only files
  /// with an index below `limit` are considered.
  ///
  /// Damaged files (truncated, bad CRC, undecodable, name disagreeing with
  /// content) are skipped and listed in `SnapshotLoad.skipped`; an older valid
  /// file is returned instead.
  ///
  /// - Throws: `.io` when the directory or a file cannot be read at all.
  public func loadNewest(below limit: UInt64 = .max) throws(StorageError) -> SnapshotLoad {
    var skipped: [StorageError] = []
    for (name, term, index) in try snapshotFiles().reversed() where index < limit {
      let path = directory + "/" + name
      do throws(StorageError) {
        let snapshot = try Self.decode(try Posix.readFile(path), path: path)
        guard snapshot.metadata.term == term, snapshot.metadata.index == index else {
          throw StorageError.badSnapshotFile(
            file: path,
            reason: "content is term \(snapshot.metadata.term) index \(snapshot.metadata.index)")
        }
        return SnapshotLoad(snapshot: snapshot, file: path, skipped: skipped)
      } catch .badSnapshotFile(let file, let reason) {
        skipped.append(.badSnapshotFile(file: file, reason: reason))
      }
    }
    return SnapshotLoad(snapshot: nil, file: nil, skipped: skipped)
  }

  static func fileName(term: UInt64, index: UInt64) -> String {
    Posix.hex16(term) + "-" + Posix.hex16(index) + suffix
  }

  static func decode(_ bytes: [UInt8], path: String) throws(StorageError) -> Raftpb_Snapshot {
    guard bytes.count >= headerSize, Array(bytes[0..<4]) == magic else {
      throw .badSnapshotFile(file: path, reason: "missing header")
    }
    let (crc, length) = bytes.withUnsafeBytes {
      ($0.littleEndianUInt32(at: 4), $0.littleEndianUInt64(at: 8))
    }
    guard length == UInt64(bytes.count - headerSize) else {
      throw .badSnapshotFile(
        file: path, reason: "body length \(length), file holds \(bytes.count - headerSize)")
    }
    guard CRC32C.checksum(bytes[8...]) == crc else {
      throw .badSnapshotFile(file: path, reason: "CRC mismatch")
    }
    do {
      return try Raftpb_Snapshot(serializedBytes: Array(bytes[headerSize...]))
    } catch {
      throw .badSnapshotFile(file: path, reason: "undecodable snapshot")
    }
  }

  /// Snapshot files oldest first, by index then term.
  private func snapshotFiles() throws(StorageError) -> [(name: String, term: UInt64, index: UInt64)]
  {
    try Posix.listDirectory(directory)
      .compactMap { name in
        Posix.parseHexPair(name, suffix: Self.suffix).map { (name, $0.0, $0.1) }
      }
      .sorted { ($0.index, $0.term) < ($1.index, $1.term) }
  }

  /// Deletes the files of snapshots after `index`: ones the WAL does not
  /// know (a crash came between file and marker) or that did not verify.
  /// Left there, they would count among the newest that `removeOld` keeps.
  ///
  /// - Durability: the deletions are durable when this returns.
  public func removeNewer(than index: UInt64) throws(StorageError) {
    let newer = try snapshotFiles().filter { $0.index > index }
    guard !newer.isEmpty else { return }
    for file in newer { try Posix.removeFile(directory + "/" + file.name) }
    try Posix.syncDirectory(directory)
  }

  /// Deletes all but the newest `count` snapshot files; 0 keeps them all.
  ///
  /// - Durability: the deletions are durable when this returns.
  public func removeOld(keeping count: Int) throws(StorageError) {
    let files = try snapshotFiles()
    guard count > 0, files.count > count else { return }
    for file in files.dropLast(count) {
      try Posix.removeFile(directory + "/" + file.name)
    }
    try Posix.syncDirectory(directory)
  }
}

/// The result of `Snapshotter.loadNewest()`.
public struct SnapshotLoad: Sendable {
  /// The newest snapshot that verified; nil if there is none.
  public var snapshot: Raftpb_Snapshot?
  /// Its full path.
  public var file: String?
  /// One `.badSnapshotFile` per newer file that was skipped, newest first.
  public var skipped: [StorageError]
}
