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

/// The member's real on-disk storage (`MemberStorage`: WAL and snapshot
/// files), in a directory on tmpfs so that the thousands of syncs of a run
/// cost little.
final class WALDurableStore: DurableStore {
  let directory: String
  private let memberID: UInt64
  private var storage: MemberStorage?
  static let segmentSize = 16 * 1024

  private var walDirectory: String { MemberStorage.walDirectory(dataDir: directory) }

  init(directory: String, memberID: UInt64) throws {
    self.directory = directory
    self.memberID = memberID
    // Created empty and closed: every start, the first too, opens it.
    try MemberStorage.create(
      dataDir: directory, walDirectory: walDirectory, memberID: memberID, clusterID: 1,
      metadata: [], segmentSize: Self.segmentSize
    ).close()
  }

  private func opened() -> MemberStorage {
    guard let storage else { preconditionFailure("storage used before load() after a crash") }
    return storage
  }

  func persist(hardState: Raftpb_HardState?, entries: [Raftpb_Entry], snapshot: Raftpb_Snapshot?)
    throws
  {
    try opened().persist(hardState: hardState, entries: entries, snapshot: snapshot)
  }

  func saveSnapshot(_ snapshot: Raftpb_Snapshot) throws {
    try opened().saveSnapshot(snapshot)
  }

  func load() throws -> (
    snapshot: Raftpb_Snapshot?, hardState: Raftpb_HardState, entries: [Raftpb_Entry]
  ) {
    let (storage, recovered) = try MemberStorage.open(
      dataDir: directory, walDirectory: walDirectory, segmentSize: Self.segmentSize)
    guard recovered.memberID == memberID else {
      throw SimFailure(message: "member \(memberID) recovered the WAL of \(recovered.memberID)")
    }
    self.storage = storage
    return (recovered.snapshot, recovered.hardState, recovered.entries)
  }

  func crash() {
    storage?.close()
    storage = nil
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
