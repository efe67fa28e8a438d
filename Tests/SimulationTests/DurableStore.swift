import EtcdProto
import Storage

#if canImport(Glibc)
  import Glibc
#endif

/// What a simulated member keeps across a crash: exactly what it synced.
protocol DurableStore: AnyObject {
  /// Makes a Ready's state durable (one group commit).
  func persist(hardState: Raftpb_HardState?, entries: [Raftpb_Entry], snapshot: Raftpb_Snapshot?)
    throws
  /// Records a snapshot the member took of its own state machine.
  func saveSnapshot(_ snapshot: Raftpb_Snapshot) throws
  /// What a restart recovers.
  func load() throws -> (
    snapshot: Raftpb_Snapshot?, hardState: Raftpb_HardState, entries: [Raftpb_Entry]
  )
  /// The process dies: anything not synced is gone.
  func crash()
  /// Removes every file (end of the run).
  func destroy()
}

/// Keeps the durable state in memory; `persist` is atomic.
final class MemoryDurableStore: DurableStore {
  private var snapshot: Raftpb_Snapshot?
  private var hardState = Raftpb_HardState()
  private var entries: [Raftpb_Entry] = []

  func persist(
    hardState: Raftpb_HardState?, entries new: [Raftpb_Entry], snapshot: Raftpb_Snapshot?
  ) {
    if let snapshot {
      self.snapshot = snapshot
      entries.removeAll { $0.index <= snapshot.metadata.index }
    }
    if let first = new.first {
      entries.removeAll { $0.index >= first.index }
      entries.append(contentsOf: new)
    }
    if let hardState { self.hardState = hardState }
  }

  func saveSnapshot(_ snapshot: Raftpb_Snapshot) {
    self.snapshot = snapshot
  }

  func load() -> (snapshot: Raftpb_Snapshot?, hardState: Raftpb_HardState, entries: [Raftpb_Entry])
  {
    let after = snapshot?.metadata.index ?? 0
    return (snapshot, hardState, entries.filter { $0.index > after })
  }

  func crash() {}
  func destroy() {}
}

/// The real WAL and snapshot files, in a directory on tmpfs so that the
/// thousands of syncs of a run cost little.
final class WALDurableStore: DurableStore {
  let directory: String
  private let walDirectory: String
  private let snapDirectory: String
  private let memberID: UInt64
  private var wal: WAL?
  static let segmentSize = 16 * 1024

  init(directory: String, memberID: UInt64) throws {
    self.directory = directory
    self.memberID = memberID
    walDirectory = directory + "/wal"
    snapDirectory = directory + "/snap"
    mkdir(directory, 0o755)
    mkdir(snapDirectory, 0o755)
    // Created empty and closed: every start, the first too, opens it.
    try WAL.create(
      directory: walDirectory, memberID: memberID, clusterID: 1, segmentSize: Self.segmentSize
    ).close()
  }

  private func openWAL() throws -> WAL {
    if let wal { return wal }
    preconditionFailure("WAL used before load() after a crash")
  }

  func persist(hardState: Raftpb_HardState?, entries: [Raftpb_Entry], snapshot: Raftpb_Snapshot?)
    throws
  {
    let wal = try openWAL()
    if let snapshot {
      // Snapshot file first, then its WAL marker: a marker always has a file.
      try Snapshotter(directory: snapDirectory).save(snapshot)
      try wal.saveSnapshotMarker(WALSnapshotMarker(snapshot.metadata))
    }
    try wal.save(hardState: hardState, entries: entries)
    try wal.sync()
  }

  func saveSnapshot(_ snapshot: Raftpb_Snapshot) throws {
    let wal = try openWAL()
    try Snapshotter(directory: snapDirectory).save(snapshot)
    try wal.saveSnapshotMarker(WALSnapshotMarker(snapshot.metadata))
    try wal.purge(upTo: snapshot.metadata.index)
  }

  func load() throws -> (
    snapshot: Raftpb_Snapshot?, hardState: Raftpb_HardState, entries: [Raftpb_Entry]
  ) {
    let snapshot = try Snapshotter(directory: snapDirectory).loadNewest().snapshot
    let marker = snapshot.map { WALSnapshotMarker($0.metadata) } ?? WALSnapshotMarker()
    let (wal, replay) = try WAL.open(
      directory: walDirectory, expectedMemberID: memberID, after: marker,
      segmentSize: Self.segmentSize)
    self.wal = wal
    return (snapshot, replay.hardState, replay.entries)
  }

  func crash() {
    wal?.close()
    wal = nil
  }

  func destroy() {
    crash()
    removeTree(directory)
  }
}

private func removeTree(_ path: String) {
  guard let dir = opendir(path) else {
    unlink(path)
    return
  }
  while let entry = readdir(dir) {
    let name = withUnsafeBytes(of: entry.pointee.d_name) {
      String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
    }
    if name == "." || name == ".." { continue }
    removeTree(path + "/" + name)
  }
  closedir(dir)
  rmdir(path)
}
