import EtcdProto
import SwiftProtobuf

/// Where a raft snapshot was taken (or received): replay starts after `index`.
public struct WALSnapshotMarker: Sendable, Equatable {
  /// Index of the last entry the snapshot covers.
  public var index: UInt64
  /// Term of that entry.
  public var term: UInt64
  /// Membership at `index`; not compared when matching a marker on open.
  public var confState: Raftpb_ConfState

  public init(index: UInt64 = 0, term: UInt64 = 0, confState: Raftpb_ConfState = .init()) {
    self.index = index
    self.term = term
    self.confState = confState
  }
}

/// Everything `WAL.open` read back.
public struct WALReplay: Sendable {
  /// Member ID from the metadata record.
  public var memberID: UInt64
  /// Cluster ID from the metadata record.
  public var clusterID: UInt64
  /// The opaque bytes given to `WAL.create`.
  public var metadata: [UInt8]
  /// The last hard state saved; empty (all zero) if none was ever saved.
  public var hardState: Raftpb_HardState
  /// Entries after the snapshot index, consecutive, with overwritten suffixes
  /// already replaced by their later versions.
  public var entries: [Raftpb_Entry]
  /// The newest snapshot marker in the log, if any was saved.
  public var latestSnapshot: WALSnapshotMarker?
  /// Set when open found and cut off a torn tail.
  public var tornTail: WALTornTail?
}

/// A torn tail that `WAL.open` truncated: the last segment's records from
/// `offset` on were incomplete or damaged with nothing valid after them.
public struct WALTornTail: Sendable, Equatable {
  /// Full path of the segment that was truncated.
  public var file: String
  /// The file was cut back to this byte offset (the end of its last valid record).
  public var offset: Int
  /// What was wrong with the record at `offset`.
  public var reason: String
}

/// What one `WAL.sync()` made durable.
public struct WALSyncResult: Sendable, Equatable {
  /// Records written (entries, hard states, snapshot markers).
  public var records: Int
  /// Bytes of those records, framing included (segment heads excluded).
  public var bytes: Int
  /// New segment files created along the way.
  public var segmentsCreated: Int
}

/// Points in the WAL's write path where a test hook may inject a failure.
enum WALFailpoint: Sendable, Equatable {
  case beforeWrite
  case beforeDataSync
  case beforeSegmentRename
}

/// Protobuf payloads of WAL records and snapshot files.
enum WALPayload {
  static func encode(_ message: some SwiftProtobuf.Message) throws(StorageError) -> [UInt8] {
    do {
      return try message.serializedBytes()
    } catch {
      throw .unencodable(reason: "\(error)")
    }
  }
}

extension WALSnapshotMarker {
  var protobuf: Raftpb_SnapshotMetadata {
    var metadata = Raftpb_SnapshotMetadata()
    metadata.index = index
    metadata.term = term
    metadata.confState = confState
    return metadata
  }

  public init(_ metadata: Raftpb_SnapshotMetadata) {
    self.init(index: metadata.index, term: metadata.term, confState: metadata.confState)
  }
}
