import EtcdProto

/// Everything a member keeps on disk for Raft, laid out as etcd lays it out:
/// `<data-dir>/member/snap` for snapshot files and `<data-dir>/member/wal`
/// (or a dedicated --wal-dir) for the log.
///
/// The order of writes is what makes a crash at any point recoverable:
/// - a Ready's snapshot file is written before its WAL marker, and the
///   marker before the entries that follow it, so a marker never names a
///   missing file;
/// - entries and hard state reach the WAL in one group commit (`persist`);
/// - WAL segments are purged only after the snapshot that covers them is
///   durable in both places.
/// A snapshot file without a WAL marker (a crash between the two) is passed
/// over on restart in favour of the newest one the WAL knows.
public final class MemberStorage {
  public let wal: WAL
  public let snapshotter: Snapshotter
  /// Snapshot files and WAL segments kept (etcd's --max-snapshots and
  /// --max-wals); 0 keeps all.
  public var maxSnapshots = Snapshotter.defaultRetained
  public var maxWALSegments = 5

  /// What a restart recovers: the newest usable snapshot, the hard state and
  /// the entries after the snapshot, and the identity the WAL was made with.
  public struct Recovered {
    public var memberID: UInt64
    public var clusterID: UInt64
    public var metadata: [UInt8]
    public var snapshot: Raftpb_Snapshot?
    public var hardState: Raftpb_HardState
    public var entries: [Raftpb_Entry]
    public var tornTail: WALTornTail?
  }

  private init(wal: WAL, snapshotter: Snapshotter) {
    self.wal = wal
    self.snapshotter = snapshotter
  }

  public static func snapDirectory(dataDir: String) -> String { dataDir + "/member/snap" }
  public static func walDirectory(dataDir: String) -> String { dataDir + "/member/wal" }

  /// Whether `walDirectory` holds a WAL, i.e. the member existed before.
  public static func exists(walDirectory: String) -> Bool {
    (try? Posix.listDirectory(walDirectory))?.contains { $0.hasSuffix(".wal") } ?? false
  }

  /// Creates the directories and an empty WAL for a new member.
  public static func create(
    dataDir: String, walDirectory: String, memberID: UInt64, clusterID: UInt64,
    metadata: [UInt8], segmentSize: Int = WAL.defaultSegmentSize
  ) throws(StorageError) -> MemberStorage {
    let snapDirectory = snapDirectory(dataDir: dataDir)
    try Posix.makeDirectories(snapDirectory)
    try Posix.makeDirectories(WAL.parentDirectory(of: walDirectory))
    let wal = try WAL.create(
      directory: walDirectory, memberID: memberID, clusterID: clusterID, metadata: metadata,
      segmentSize: segmentSize)
    return MemberStorage(wal: wal, snapshotter: try Snapshotter(directory: snapDirectory))
  }

  /// Opens an existing member's storage and replays it.
  public static func open(
    dataDir: String, walDirectory: String, segmentSize: Int = WAL.defaultSegmentSize
  ) throws(StorageError) -> (MemberStorage, Recovered) {
    let snapshotter = try Snapshotter(directory: snapDirectory(dataDir: dataDir))
    var limit = UInt64.max
    while true {
      let snapshot = try snapshotter.loadNewest(below: limit).snapshot
      let marker = snapshot.map { WALSnapshotMarker($0.metadata) } ?? WALSnapshotMarker()
      do throws(StorageError) {
        let (wal, replay) = try WAL.open(
          directory: walDirectory, after: marker, segmentSize: segmentSize)
        try snapshotter.removeNewer(than: snapshot?.metadata.index ?? 0)
        let recovered = Recovered(
          memberID: replay.memberID, clusterID: replay.clusterID, metadata: replay.metadata,
          snapshot: snapshot, hardState: replay.hardState, entries: replay.entries,
          tornTail: replay.tornTail)
        return (MemberStorage(wal: wal, snapshotter: snapshotter), recovered)
      } catch .snapshotNotFound where snapshot != nil {
        // The file was written but the crash came before its WAL marker.
        limit = snapshot!.metadata.index
      }
    }
  }

  /// Makes one Ready durable: its snapshot (file, then WAL marker), then its
  /// entries and hard state in one group commit.
  public func persist(
    hardState: Raftpb_HardState?, entries: [Raftpb_Entry], snapshot: Raftpb_Snapshot?
  ) throws(StorageError) {
    if let snapshot { try saveSnapshot(snapshot, purge: false) }
    try wal.save(hardState: hardState, entries: entries)
    try wal.sync()
  }

  /// Records a snapshot of the member's own state machine and releases the
  /// WAL segments it covers.
  public func saveSnapshot(_ snapshot: Raftpb_Snapshot, purge: Bool = true) throws(StorageError) {
    try snapshotter.save(snapshot)
    try wal.saveSnapshotMarker(WALSnapshotMarker(snapshot.metadata))
    // Only now that the WAL names the new file may older ones go: a crash
    // before the marker restarts from the newest file the WAL knows.
    try snapshotter.removeOld(keeping: maxSnapshots)
    if purge && maxWALSegments > 0 {
      try wal.purge(upTo: snapshot.metadata.index, keeping: maxWALSegments)
    }
  }

  public func close() {
    wal.close()
  }
}
