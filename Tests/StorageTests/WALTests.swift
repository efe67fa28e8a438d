import EtcdProto
import Foundation
import Testing

@testable import Storage

@Suite struct WALTests {
  @Test func roundTripAcrossSegmentCuts() throws {
    try withTemporaryDirectory { directory in
      let wal = try WAL.create(
        directory: directory, memberID: 7, clusterID: 99, metadata: [1, 2, 3], segmentSize: 1024)
      var saved: [SavedRecord] = []
      for index in UInt64(1)...120 {
        // One entry bigger than a whole segment gets a segment of its own.
        let entry = makeEntry(index, size: index == 60 ? 3000 : Int(index % 50))
        try wal.save(hardState: nil, entries: [entry])
        saved.append(.entry(entry))
        if index % 10 == 0 {
          let state = makeHardState(term: 1, commit: index - 3)
          try wal.save(hardState: state, entries: [])
          saved.append(.hardState(state))
          try wal.sync()
        }
      }
      wal.close()
      #expect(try segmentFiles(directory).count >= 5)

      let (reopened, replay) = try WAL.open(
        directory: directory, expectedMemberID: 7, expectedClusterID: 99, segmentSize: 4096)
      defer { reopened.close() }
      let expected = expectedReplay(saved)
      #expect(replay.entries == expected.entries)
      #expect(replay.hardState == expected.hardState)
      #expect(replay.metadata == [1, 2, 3])
      #expect(replay.memberID == 7 && replay.clusterID == 99)
      #expect(replay.tornTail == nil)
      #expect(replay.latestSnapshot == nil)
    }
  }

  @Test func syncIsOneGroupCommitAndReportsWhatItWrote() throws {
    try withTemporaryDirectory { directory in
      let wal = try WAL.create(directory: directory, memberID: 1, clusterID: 1)
      defer { wal.close() }
      try wal.save(
        hardState: makeHardState(term: 1, commit: 1), entries: (1...3).map { makeEntry($0) })
      var writes = 0
      var dataSyncs = 0
      wal.failpoint = { point in
        if point == .beforeWrite { writes += 1 }
        if point == .beforeDataSync { dataSyncs += 1 }
      }
      let result = try wal.sync()
      #expect(result.records == 4)
      #expect(result.bytes > 4 * 16 && result.bytes % 8 == 0)
      #expect(result.segmentsCreated == 0)
      #expect(writes == 1 && dataSyncs == 1)
      #expect(try wal.sync() == WALSyncResult(records: 0, bytes: 0, segmentsCreated: 0))
      #expect(writes == 1 && dataSyncs == 1)
    }
  }

  @Test func overwrittenSuffixIsReplaced() throws {
    try withTemporaryDirectory { directory in
      let wal = try WAL.create(directory: directory, memberID: 1, clusterID: 1, segmentSize: 512)
      try wal.save(hardState: nil, entries: (1...10).map { makeEntry($0) })
      try wal.sync()
      // A new leader's entries from index 6 replace the old tail, then the log
      // grows again, then an even older conflict is cut (index 4).
      try wal.save(hardState: nil, entries: (6...12).map { makeEntry($0, term: 2) })
      try wal.sync()
      try wal.save(hardState: nil, entries: (4...5).map { makeEntry($0, term: 3) })
      try wal.sync()
      wal.close()

      let (reopened, replay) = try WAL.open(directory: directory, segmentSize: 512)
      defer { reopened.close() }
      let expected = (1...3).map { makeEntry($0) } + (4...5).map { makeEntry($0, term: 3) }
      #expect(replay.entries == expected)
      #expect(try segmentFiles(directory).count >= 2)
    }
  }

  @Test func entriesAfterSnapshotMarkerOnly() throws {
    try withTemporaryDirectory { directory in
      let wal = try WAL.create(directory: directory, memberID: 1, clusterID: 1, segmentSize: 1024)
      try wal.save(hardState: nil, entries: (1...20).map { makeEntry($0) })
      var conf = Raftpb_ConfState()
      conf.voters = [1, 2, 3]
      let marker = WALSnapshotMarker(index: 10, term: 1, confState: conf)
      try wal.saveSnapshotMarker(marker)
      try wal.save(
        hardState: makeHardState(term: 1, commit: 22), entries: (21...25).map { makeEntry($0) })
      try wal.sync()
      wal.close()

      let (afterMarker, replay) = try WAL.open(
        directory: directory, after: WALSnapshotMarker(index: 10, term: 1))
      #expect(replay.entries == (11...25).map { makeEntry($0) })
      #expect(replay.latestSnapshot == marker)
      #expect(replay.hardState == makeHardState(term: 1, commit: 22))
      afterMarker.close()

      let (fromStart, full) = try WAL.open(directory: directory)
      #expect(full.entries == (1...25).map { makeEntry($0) })
      fromStart.close()

      #expect(throws: StorageError.snapshotNotFound(index: 12, term: 1)) {
        try WAL.open(directory: directory, after: WALSnapshotMarker(index: 12, term: 1))
      }
      #expect(throws: StorageError.snapshotNotFound(index: 10, term: 2)) {
        try WAL.open(directory: directory, after: WALSnapshotMarker(index: 10, term: 2))
      }
    }
  }

  @Test func receivedSnapshotAboveTheLogStartsTheNextEntries() throws {
    try withTemporaryDirectory { directory in
      let wal = try WAL.create(directory: directory, memberID: 1, clusterID: 1, segmentSize: 512)
      try wal.save(hardState: nil, entries: (1...5).map { makeEntry($0) })
      try wal.saveSnapshotMarker(WALSnapshotMarker(index: 100, term: 4))
      try wal.save(hardState: nil, entries: (101...130).map { makeEntry($0, term: 4) })
      try wal.sync()
      wal.close()
      let (reopened, replay) = try WAL.open(
        directory: directory, after: WALSnapshotMarker(index: 100, term: 4))
      defer { reopened.close() }
      #expect(replay.entries == (101...130).map { makeEntry($0, term: 4) })
      // Segment names carry the index the writer was at, snapshot included.
      let firstIndexes = try segmentFiles(directory).dropFirst().map {
        UInt64($0.dropFirst(17).prefix(16), radix: 16)!
      }
      #expect(firstIndexes.allSatisfy { $0 > 100 })
    }
  }

  @Test func identityAndLockingErrors() throws {
    try withTemporaryDirectory { directory in
      let wal = try WAL.create(directory: directory, memberID: 5, clusterID: 6)
      #expect(throws: StorageError.locked(directory: directory)) {
        try WAL.open(directory: directory)
      }
      wal.close()
      #expect(throws: StorageError.alreadyExists(directory: directory)) {
        try WAL.create(directory: directory, memberID: 5, clusterID: 6)
      }
      #expect(
        throws: StorageError.identityMismatch(
          expectedMemberID: 5, expectedClusterID: 7, memberID: 5, clusterID: 6)
      ) {
        try WAL.open(directory: directory, expectedMemberID: 5, expectedClusterID: 7)
      }
      let empty = directory + "/empty"
      try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: false)
      #expect(throws: StorageError.notFound(directory: empty)) {
        try WAL.open(directory: empty)
      }
      let (reopened, _) = try WAL.open(directory: directory, expectedMemberID: 5)
      reopened.close()
      #expect(throws: StorageError.closed) { try reopened.sync() }
    }
  }

  @Test func missingMiddleSegmentIsAnError() throws {
    try withTemporaryDirectory { directory in
      let wal = try WAL.create(directory: directory, memberID: 1, clusterID: 1, segmentSize: 512)
      for index in UInt64(1)...60 {
        try wal.save(hardState: nil, entries: [makeEntry(index)])
        try wal.sync()
      }
      wal.close()
      let files = try segmentFiles(directory)
      #expect(files.count >= 3)
      try FileManager.default.removeItem(atPath: directory + "/" + files[1])
      #expect(throws: StorageError.missingSegment(directory: directory, expectedSequence: 1)) {
        try WAL.open(directory: directory)
      }
    }
  }

  @Test func damageInANonLastSegmentNamesFileAndOffset() throws {
    try withTemporaryDirectory { directory in
      let wal = try WAL.create(directory: directory, memberID: 1, clusterID: 1, segmentSize: 512)
      for index in UInt64(1)...60 {
        try wal.save(hardState: nil, entries: [makeEntry(index)])
        try wal.sync()
      }
      wal.close()
      let files = try segmentFiles(directory)
      let path = directory + "/" + files[1]
      var bytes = try readBytes(path)
      let scan = scanSegment(bytes)
      // The last record of a full, non-last segment: damage there is never a torn tail.
      let victim = scan.frames[scan.frames.count - 1]
      bytes[victim.offset + 20] ^= 0x40
      try writeBytes(bytes, to: path)
      #expect(
        throws: StorageError.corruptRecord(
          file: path, offset: victim.offset, reason: "CRC mismatch")
      ) {
        try WAL.open(directory: directory)
      }
    }
  }

  @Test func tornTailIsCutAndTheChainContinues() throws {
    try withTemporaryDirectory { directory in
      let wal = try WAL.create(directory: directory, memberID: 1, clusterID: 1, segmentSize: 1024)
      for index in UInt64(1)...40 {
        try wal.save(hardState: nil, entries: [makeEntry(index)])
        if index % 5 == 0 { try wal.sync() }
      }
      wal.close()
      let last = directory + "/" + (try segmentFiles(directory).last!)
      let bytes = try readBytes(last)
      let lastFrame = scanSegment(bytes).frames.last!
      // Half of the last record reached the disk.
      try writeBytes(bytes[..<(lastFrame.offset + lastFrame.size / 2)], to: last)

      let (repaired, replay) = try WAL.open(directory: directory, segmentSize: 1024)
      #expect(replay.tornTail?.file == last)
      #expect(replay.tornTail?.offset == lastFrame.offset)
      #expect(replay.entries == (1...39).map { makeEntry($0) })
      try repaired.save(hardState: nil, entries: (40...70).map { makeEntry($0, term: 2) })
      try repaired.sync()
      repaired.close()

      let (again, second) = try WAL.open(directory: directory)
      defer { again.close() }
      #expect(second.tornTail == nil)
      #expect(
        second.entries == (1...39).map { makeEntry($0) } + (40...70).map { makeEntry($0, term: 2) })
    }
  }
}
