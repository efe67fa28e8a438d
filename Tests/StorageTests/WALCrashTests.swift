import EtcdProto
import Foundation
import Testing

@testable import Storage

/// Crash simulation over every byte of the last segment: a torn write is the
/// last segment cut short at some offset; corruption is one damaged byte.
@Suite struct WALCrashTests {
  static let segmentSize = 640

  /// A synced log of 30 records over several segments, and where each of the
  /// last segment's records sits.
  struct Fixture {
    var saved: [SavedRecord] = []
    /// Every segment file's name and bytes, oldest first.
    var files: [(name: String, bytes: [UInt8])] = []
    /// Verified records of the last segment, head included.
    var lastFrames: [WALFrame] = []
    /// How many saved records precede the last segment's first one.
    var savedBeforeLast = 0
    var headEnd = 0
    var writtenEnd: Int { lastFrames.last!.end }
    var lastName: String { files[files.count - 1].name }

    init(directory: String) throws {
      let wal = try WAL.create(
        directory: directory, memberID: 3, clusterID: 4, segmentSize: WALCrashTests.segmentSize)
      var nextIndex: UInt64 = 1
      var term: UInt64 = 1
      for step in 1...30 {
        let record: SavedRecord
        if step % 6 == 3 {
          record = .hardState(makeHardState(term: term, commit: nextIndex - 2))
        } else {
          if step == 26 {
            // A new leader's entry replaces a conflicting suffix from index 18.
            nextIndex = 18
            term = 2
          }
          record = .entry(makeEntry(nextIndex, term: term, size: 16 + step % 5 * 7))
          nextIndex += 1
        }
        try record.save(to: wal)
        saved.append(record)
        if step % 3 == 0 { try wal.sync() }
      }
      wal.close()
      files = try segmentFiles(directory).map { ($0, try readBytes(directory + "/" + $0)) }
      lastFrames = scanSegment(files[files.count - 1].bytes).frames
      headEnd = lastFrames[3].end
      savedBeforeLast = saved.count - (lastFrames.count - 4)
    }

    /// A directory holding the log with the last segment replaced by `last`.
    func materialize(at directory: String, last: some Collection<UInt8>) throws {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
      for file in files.dropLast() { try writeBytes(file.bytes, to: directory + "/" + file.name) }
      try writeBytes(last, to: directory + "/" + lastName)
    }

    /// Saved records that end at or before `offset` of the last segment.
    func survivors(upTo offset: Int) -> ArraySlice<SavedRecord> {
      let kept = lastFrames.dropFirst(4).filter { $0.end <= offset }.count
      return saved[..<(savedBeforeLast + kept)]
    }
  }

  @Test func fixtureSpansSegmentsAndReplaysExactly() throws {
    try withTemporaryDirectory { directory in
      let fixture = try Fixture(directory: directory + "/source")
      #expect(fixture.files.count >= 3)
      #expect(fixture.lastFrames.count > 6)
      // The overwrite (step 26, saved[25]) is among the records cut and damaged.
      #expect(fixture.savedBeforeLast <= 25)
      let (wal, replay) = try WAL.open(directory: directory + "/source")
      wal.close()
      let expected = expectedReplay(fixture.saved)
      #expect(replay.entries == expected.entries && replay.hardState == expected.hardState)
      #expect(expected.entries.last == makeEntry(21, term: 2, size: 16 + 30 % 5 * 7))
    }
  }

  /// Truncates the last segment at every offset of its written region: open
  /// succeeds, keeps exactly the records that end before the cut, and the
  /// repaired log accepts appends that replay after another restart.
  @Test func tornWriteAtEveryOffset() throws {
    try withTemporaryDirectory { directory in
      let fixture = try Fixture(directory: directory + "/source")
      for cut in 0...fixture.writtenEnd {
        let work = directory + "/cut-\(cut)"
        try fixture.materialize(at: work, last: fixture.files.last!.bytes[..<cut])
        let (wal, replay) = try WAL.open(directory: work, segmentSize: WALCrashTests.segmentSize)
        let expected = expectedReplay(fixture.survivors(upTo: cut))
        #expect(replay.entries == expected.entries, "cut at \(cut)")
        #expect(replay.hardState == expected.hardState, "cut at \(cut)")
        let cleanCut = cut >= fixture.headEnd && fixture.lastFrames.contains { $0.end == cut }
        #expect(
          (replay.tornTail == nil) == cleanCut,
          "cut at \(cut): \(String(describing: replay.tornTail))")

        let next = makeEntry((expected.entries.last?.index ?? 0) + 1, term: 9)
        try wal.save(hardState: makeHardState(term: 9, commit: 1), entries: [next])
        try wal.sync()
        wal.close()
        let (again, second) = try WAL.open(directory: work, segmentSize: WALCrashTests.segmentSize)
        again.close()
        #expect(second.tornTail == nil, "cut at \(cut)")
        #expect(second.entries == expected.entries + [next], "cut at \(cut)")
        #expect(second.hardState == makeHardState(term: 9, commit: 1), "cut at \(cut)")
        try FileManager.default.removeItem(atPath: work)
      }
    }
  }

  /// Damages each byte of the last segment's written region in turn: damage
  /// in the last record is a torn tail (that record alone is dropped); damage
  /// anywhere before it is corruption that names the file and record offset.
  @Test func damagedByteAtEveryOffset() throws {
    try withTemporaryDirectory { directory in
      let fixture = try Fixture(directory: directory + "/source")
      let lastRecord = fixture.lastFrames[fixture.lastFrames.count - 1]
      for position in 0..<fixture.writtenEnd {
        let work = directory + "/flip-\(position)"
        var bytes = fixture.files.last!.bytes
        bytes[position] ^= UInt8(truncatingIfNeeded: position % 255 + 1)
        try fixture.materialize(at: work, last: bytes)
        defer { try? FileManager.default.removeItem(atPath: work) }
        if position >= lastRecord.offset {
          let (wal, replay) = try WAL.open(directory: work, segmentSize: WALCrashTests.segmentSize)
          let expected = expectedReplay(fixture.saved.dropLast())
          #expect(replay.entries == expected.entries, "byte \(position)")
          #expect(replay.hardState == expected.hardState, "byte \(position)")
          #expect(replay.tornTail?.offset == lastRecord.offset, "byte \(position)")
          // A record shorter than the damaged one: the damaged bytes beyond
          // it must have been zeroed, or the next open would see garbage.
          try wal.save(hardState: makeHardState(term: 9, commit: 2), entries: [])
          try wal.sync()
          wal.close()
          let (again, second) = try WAL.open(
            directory: work, segmentSize: WALCrashTests.segmentSize)
          again.close()
          #expect(second.tornTail == nil, "byte \(position)")
          #expect(second.entries == expected.entries, "byte \(position)")
          #expect(second.hardState == makeHardState(term: 9, commit: 2), "byte \(position)")
        } else {
          let victim = fixture.lastFrames.first { $0.offset <= position && position < $0.end }!
          do {
            let (wal, _) = try WAL.open(directory: work, segmentSize: WALCrashTests.segmentSize)
            wal.close()
            Issue.record("byte \(position): damage before the last record was accepted")
          } catch {
            guard case .corruptRecord(let file, let offset, _) = error as? StorageError else {
              Issue.record("byte \(position): unexpected \(error)")
              continue
            }
            #expect(file == work + "/" + fixture.lastName, "byte \(position)")
            #expect(offset == victim.offset, "byte \(position)")
          }
        }
      }
    }
  }

  /// Out-of-order sector persistence: a zero sector in the middle of the
  /// last batch, with later records of that batch intact, is still a torn
  /// write, not corruption.
  @Test func zeroSectorInsideUnsyncedBatchIsTorn() throws {
    try withTemporaryDirectory { directory in
      let wal = try WAL.create(
        directory: directory, memberID: 1, clusterID: 1, segmentSize: 64 * 1024)
      try wal.save(hardState: nil, entries: (1...5).map { makeEntry($0) })
      try wal.sync()
      try wal.save(hardState: nil, entries: (6...12).map { makeEntry($0, size: 1500) })
      try wal.sync()
      wal.close()
      let path = directory + "/" + (try segmentFiles(directory).last!)
      var bytes = try readBytes(path)
      // Frames 4...8 hold entries 1...5, so frame 11 holds entry 8.
      let victim = scanSegment(bytes).frames[11]
      let hole = (victim.offset + 12 + 511) / 512 * 512
      #expect(hole + 512 <= victim.end)
      for offset in hole..<(hole + 512) { bytes[offset] = 0 }
      try writeBytes(bytes, to: path)

      let (reopened, replay) = try WAL.open(directory: directory)
      reopened.close()
      #expect(replay.tornTail?.offset == victim.offset)
      #expect(
        replay.entries == (1...5).map { makeEntry($0) } + (6...7).map { makeEntry($0, size: 1500) })
    }
  }
}
