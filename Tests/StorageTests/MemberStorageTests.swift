import EtcdProto
import Foundation
import Testing

@testable import Storage

@Suite("Member storage: WAL and snapshot files together")
struct MemberStorageTests {
  func snapshot(index: UInt64, term: UInt64) -> Raftpb_Snapshot {
    var snap = Raftpb_Snapshot()
    snap.metadata.index = index
    snap.metadata.term = term
    snap.metadata.confState.voters = [1]
    snap.data = Data("state at \(index)".utf8)
    return snap
  }

  @Test("a new member's layout is etcd's and a restart replays it")
  func roundTrip() throws {
    try withTemporaryDirectory { dir in
      let dataDir = dir + "/m1.etcd"
      let walDir = MemberStorage.walDirectory(dataDir: dataDir)
      #expect(!MemberStorage.exists(walDirectory: walDir))
      let storage = try MemberStorage.create(
        dataDir: dataDir, walDirectory: walDir, memberID: 7, clusterID: 9, metadata: [1, 2])
      try storage.persist(
        hardState: makeHardState(term: 1, commit: 2), entries: (1...3).map { makeEntry($0) },
        snapshot: nil)
      storage.close()
      #expect(MemberStorage.exists(walDirectory: walDir))
      #expect(FileManager.default.fileExists(atPath: dataDir + "/member/snap"))
      let (reopened, recovered) = try MemberStorage.open(dataDir: dataDir, walDirectory: walDir)
      defer { reopened.close() }
      #expect(recovered.memberID == 7 && recovered.clusterID == 9 && recovered.metadata == [1, 2])
      #expect(recovered.entries == (1...3).map { makeEntry($0) })
      #expect(recovered.hardState == makeHardState(term: 1, commit: 2))
      #expect(recovered.snapshot == nil)
    }
  }

  @Test("a snapshot file whose WAL marker never made it is passed over")
  func orphanSnapshotFile() throws {
    try withTemporaryDirectory { dir in
      let dataDir = dir + "/m"
      let walDir = dir + "/dedicated-wal"
      let storage = try MemberStorage.create(
        dataDir: dataDir, walDirectory: walDir, memberID: 1, clusterID: 1, metadata: [])
      try storage.persist(
        hardState: makeHardState(term: 1, commit: 10), entries: (1...10).map { makeEntry($0) },
        snapshot: nil)
      try storage.saveSnapshot(snapshot(index: 5, term: 1))
      // The crash comes after the file of the next snapshot, before its marker.
      try storage.snapshotter.save(snapshot(index: 8, term: 1))
      storage.close()
      let (reopened, recovered) = try MemberStorage.open(dataDir: dataDir, walDirectory: walDir)
      defer { reopened.close() }
      #expect(recovered.snapshot?.metadata.index == 5)
      #expect(recovered.entries == (6...10).map { makeEntry($0) })
    }
  }

  @Test("max snapshots 1: older files go once the WAL names the newer; max WALs 0 purges nothing")
  func retention() throws {
    try withTemporaryDirectory { dir in
      let dataDir = dir + "/m"
      let walDir = dir + "/wal"
      func names(_ directory: String, _ suffix: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter {
          $0.hasSuffix(suffix)
        }.sorted()
      }
      let storage = try MemberStorage.create(
        dataDir: dataDir, walDirectory: walDir, memberID: 1, clusterID: 1, metadata: [],
        segmentSize: 640)
      storage.maxSnapshots = 1
      storage.maxWALSegments = 0
      try storage.persist(
        hardState: makeHardState(term: 1, commit: 30), entries: (1...30).map { makeEntry($0) },
        snapshot: nil)
      let segments = try names(walDir, ".wal")
      #expect(segments.count > 2)
      for index: UInt64 in [10, 20] { try storage.saveSnapshot(snapshot(index: index, term: 1)) }
      let snapDir = MemberStorage.snapDirectory(dataDir: dataDir)
      #expect(try names(snapDir, ".snap") == [Snapshotter.fileName(term: 1, index: 20)])
      #expect(try names(walDir, ".wal").starts(with: segments))
      // A crash after the next file, before its marker: the named one is there.
      try storage.snapshotter.save(snapshot(index: 25, term: 1))
      storage.close()
      let (reopened, recovered) = try MemberStorage.open(
        dataDir: dataDir, walDirectory: walDir, segmentSize: 640)
      defer { reopened.close() }
      #expect(recovered.snapshot?.metadata.index == 20)
      #expect(recovered.entries == (21...30).map { makeEntry($0) })
      // The file the WAL never named is gone, so it cannot crowd out the
      // next snapshot, whose index may be lower.
      #expect(try names(snapDir, ".snap") == [Snapshotter.fileName(term: 1, index: 20)])
      reopened.maxSnapshots = 1
      try reopened.saveSnapshot(snapshot(index: 22, term: 1))
      #expect(try names(snapDir, ".snap") == [Snapshotter.fileName(term: 1, index: 22)])
    }
  }

  @Test("a leader's snapshot in a Ready is recovered with the entries after it")
  func readySnapshot() throws {
    try withTemporaryDirectory { dir in
      let dataDir = dir + "/m"
      let walDir = MemberStorage.walDirectory(dataDir: dataDir)
      let storage = try MemberStorage.create(
        dataDir: dataDir, walDirectory: walDir, memberID: 1, clusterID: 1, metadata: [])
      try storage.persist(
        hardState: makeHardState(term: 3, commit: 20), entries: [makeEntry(21, term: 3)],
        snapshot: snapshot(index: 20, term: 3))
      storage.close()
      let (reopened, recovered) = try MemberStorage.open(dataDir: dataDir, walDirectory: walDir)
      defer { reopened.close() }
      #expect(recovered.snapshot?.metadata.index == 20)
      #expect(recovered.entries == [makeEntry(21, term: 3)])
    }
  }
}
