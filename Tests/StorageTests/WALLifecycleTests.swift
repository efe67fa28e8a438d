import EtcdProto
import Foundation
import Testing

@testable import Storage

/// Purging old segments and poisoning after failed writes.
@Suite struct WALLifecycleTests {
  /// Writes entries 1...count, one sync per 4 entries, into 512-byte segments.
  private func makeLog(_ directory: String, count: UInt64) throws -> WAL {
    let wal = try WAL.create(directory: directory, memberID: 1, clusterID: 2, segmentSize: 512)
    for index in UInt64(1)...count {
      try wal.save(hardState: makeHardState(term: 1, commit: index), entries: [makeEntry(index)])
      if index % 4 == 0 { try wal.sync() }
    }
    try wal.sync()
    return wal
  }

  private func firstIndex(_ fileName: String) -> UInt64 {
    UInt64(fileName.dropFirst(17).prefix(16), radix: 16)!
  }

  @Test func purgeDropsOnlySegmentsCoveredBySnapshot() throws {
    try withTemporaryDirectory { directory in
      let wal = try makeLog(directory, count: 200)
      let before = try segmentFiles(directory)
      #expect(before.count > 12)
      try wal.saveSnapshotMarker(WALSnapshotMarker(index: 150, term: 1))
      let removed = try wal.purge(upTo: 150)
      let after = try segmentFiles(directory)
      #expect(!removed.isEmpty)
      #expect(removed == before.prefix(removed.count).map { directory + "/" + $0 })
      #expect(after.count >= 5)
      // The oldest kept segment may start at or below 151, but its successor
      // must start above 151 (or it would have been purged too).
      #expect(firstIndex(after[1]) > 151)
      // Every purged segment's successor starts at or below 151: nothing
      // above the snapshot was dropped.
      for position in 0..<removed.count {
        #expect(firstIndex(before[position + 1]) <= 151)
      }
      wal.close()

      let (reopened, replay) = try WAL.open(
        directory: directory, after: WALSnapshotMarker(index: 150, term: 1))
      reopened.close()
      #expect(replay.entries == (151...200).map { makeEntry($0) })
      #expect(replay.hardState == makeHardState(term: 1, commit: 200))
      #expect(replay.metadata == [])
      #expect(replay.memberID == 1 && replay.clusterID == 2)
      // Entries before the first kept segment are gone; asking for them fails.
      #expect(throws: StorageError.self) { try WAL.open(directory: directory) }
    }
  }

  @Test func purgeAlwaysKeepsTheNewestFive() throws {
    try withTemporaryDirectory { directory in
      let wal = try makeLog(directory, count: 120)
      defer { wal.close() }
      try wal.saveSnapshotMarker(WALSnapshotMarker(index: 120, term: 1))
      let before = try segmentFiles(directory)
      #expect(before.count > 5)
      try wal.purge(upTo: 120)
      #expect(try segmentFiles(directory) == Array(before.suffix(5)))
      #expect(try wal.purge(upTo: 120).isEmpty)
      // New segments keep working after a purge.
      try wal.save(hardState: nil, entries: (121...160).map { makeEntry($0) })
      try wal.sync()
      wal.close()
      let (reopened, replay) = try WAL.open(
        directory: directory, after: WALSnapshotMarker(index: 120, term: 1))
      reopened.close()
      #expect(replay.entries == (121...160).map { makeEntry($0) })
    }
  }

  @Test func purgeBelowEverySegmentDeletesNothing() throws {
    try withTemporaryDirectory { directory in
      let wal = try makeLog(directory, count: 120)
      defer { wal.close() }
      let before = try segmentFiles(directory)
      #expect(try wal.purge(upTo: 2).isEmpty)
      #expect(try segmentFiles(directory) == before)
    }
  }

  @Test func failedDataSyncPoisonsEveryLaterCall() throws {
    try withTemporaryDirectory { directory in
      let wal = try WAL.create(directory: directory, memberID: 1, clusterID: 1)
      try wal.save(hardState: nil, entries: [makeEntry(1)])
      try wal.sync()
      wal.failpoint = { point throws(StorageError) in
        if point == .beforeDataSync { throw .io(operation: "fdatasync", path: "x", errno: EIO) }
      }
      try wal.save(hardState: nil, entries: [makeEntry(2)])
      #expect(throws: StorageError.io(operation: "fdatasync", path: "x", errno: EIO)) {
        try wal.sync()
      }
      // Even with the fault gone, nothing is retried.
      wal.failpoint = nil
      expectPoisoned { try wal.sync() }
      expectPoisoned { try wal.save(hardState: nil, entries: [makeEntry(3)]) }
      expectPoisoned { try wal.saveSnapshotMarker(WALSnapshotMarker(index: 1, term: 1)) }
      expectPoisoned { _ = try wal.purge(upTo: 1) }
      wal.close()

      let (reopened, replay) = try WAL.open(directory: directory)
      reopened.close()
      #expect(replay.entries.first == makeEntry(1))
    }
  }

  @Test func failedWriteUnderneathPoisons() throws {
    try withTemporaryDirectory { directory in
      let wal = try WAL.create(directory: directory, memberID: 1, clusterID: 1)
      // Swap a read-only descriptor in behind the WAL's back: pwrite gets
      // EBADF. dup2 keeps the descriptor number owned by this test, so no
      // other test's file can land on it.
      let readOnly = open(wal.tail.path, O_RDONLY)
      #expect(dup2(readOnly, wal.tail.fd) == wal.tail.fd)
      close(readOnly)
      try wal.save(hardState: nil, entries: [makeEntry(1)])
      #expect(throws: StorageError.self) { try wal.sync() }
      expectPoisoned { try wal.sync() }
      expectPoisoned { try wal.save(hardState: nil, entries: []) }
      wal.close()
    }
  }

  @Test func failedSegmentCutPoisonsAndLeavesNoTemporaryFile() throws {
    try withTemporaryDirectory { directory in
      let wal = try WAL.create(directory: directory, memberID: 1, clusterID: 1, segmentSize: 512)
      try wal.save(hardState: nil, entries: (1...3).map { makeEntry($0) })
      try wal.sync()
      wal.failpoint = { point throws(StorageError) in
        if point == .beforeSegmentRename { throw .io(operation: "rename", path: "x", errno: EIO) }
      }
      try wal.save(hardState: nil, entries: (4...40).map { makeEntry($0) })
      #expect(throws: StorageError.self) { try wal.sync() }
      expectPoisoned { try wal.sync() }
      wal.close()
      #expect(
        try FileManager.default.contentsOfDirectory(atPath: directory).contains {
          $0.hasSuffix(".tmp")
        })

      let (reopened, replay) = try WAL.open(directory: directory, segmentSize: 512)
      reopened.close()
      #expect(
        try !FileManager.default.contentsOfDirectory(atPath: directory).contains {
          $0.hasSuffix(".tmp")
        })
      // The first segment was fdatasynced before the cut was attempted.
      #expect(replay.entries.prefix(3) == (1...3).map { makeEntry($0) }[...])
      #expect(replay.entries == (1...UInt64(replay.entries.count)).map { makeEntry($0) })
    }
  }
}
