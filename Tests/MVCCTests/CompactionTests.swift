import Foundation
import Testing

@testable import MVCC

@Suite struct CompactionTests {
  /// Every row key in the key bucket, as (main, tombstone).
  func rows(_ store: MVCCStore) throws -> [(Int64, Bool)] {
    var found: [(Int64, Bool)] = []
    try store.environment.read { txn throws(MVCCError) in
      try txn.forEach(store.buckets.key) { key, _ throws(MVCCError) in
        let (revision, tombstone) = Revision.parse(key)!
        found.append((revision.main, tombstone))
        return true
      }
    }
    return found
  }

  /// All keys at every revision from `first` to the current one.
  func history(_ store: MVCCStore, from first: Int64) throws -> [RangeResult] {
    try (first...store.currentRevision).map { revision in
      try store.range(Data([0]), rangeEnd: Data([0]), revision: revision)
    }
  }

  /// foo: put 2, put 3, delete 4, put 5. bar: put 6, delete 7. baz: put 8.
  func populate(_ store: MVCCStore) throws {
    try store.put(bytes("foo"), value: bytes("1"))
    try store.put(bytes("foo"), value: bytes("2"))
    try store.deleteRange(bytes("foo"))
    try store.put(bytes("foo"), value: bytes("3"))
    try store.put(bytes("bar"), value: bytes("1"))
    try store.deleteRange(bytes("bar"))
    try store.put(bytes("baz"), value: bytes("1"))
  }

  @Test func readsFromTheCompactedRevisionOnAreUnchanged() throws {
    for revision in Int64(1)...8 {
      try withStore { store, _ in
        try populate(store)
        let before = try history(store, from: revision)
        try store.compact(revision)
        #expect(try store.compactStep())
        #expect(try history(store, from: revision) == before, "compacted at \(revision)")
        if revision > 1 {
          expectError(.compacted) { _ = try store.range(bytes("foo"), revision: revision - 1) }
        }
      }
    }
  }

  @Test func rowsKeptAreTheVersionsAtTheRevisionAndAllLaterOnes() throws {
    try withStore { store, _ in
      try populate(store)
      try store.compact(3)
      try store.compactStep()
      // foo's 2 goes, its 3 is the version at 3; 4t and later stay.
      #expect(try rows(store).map(\.0) == [3, 4, 5, 6, 7, 8])
      try store.compact(4)
      try store.compactStep()
      // foo was deleted at 4: its old life goes entirely, tombstone included.
      #expect(try rows(store).map(\.0) == [5, 6, 7, 8])
      try store.compact(8)
      try store.compactStep()
      // bar is gone with its tombstone; foo and baz keep their live versions.
      #expect(try rows(store).map(\.0) == [5, 8])
      #expect(store.index.count == 2)
    }
  }

  @Test func compactionErrors() throws {
    try withStore { store, _ in
      try populate(store)
      expectError(.futureRevision) { try store.compact(9) }
      try store.compact(5)
      expectError(.compacted) { try store.compact(5) }
      expectError(.compacted) { try store.compact(3) }
      try store.compact(8)
      #expect(store.compactRevision == 8)
    }
  }

  @Test func stepsAreBoundedAndInterleaveWithWrites() throws {
    try withStore { store, path in
      for round in 0..<50 {
        try store.put(bytes("k\(round % 5)"), value: bytes("\(round)"))
      }
      let before = try history(store, from: 40)
      try store.compact(40)
      var steps = 0
      while try !store.compactStep(maxRows: 7) {
        steps += 1
        try store.put(bytes("other\(steps)"), value: bytes("x"))
      }
      #expect(steps == 5)  // 39 rows at or below 40, 7 at a time.
      #expect(store.pendingCompaction == nil)
      #expect(try history(store, from: 40).prefix(before.count).map(\.kvs) == before.map(\.kvs))
      store.close()
      let reopened = try MVCCStore(path: path, options: testOptions())
      defer { reopened.close() }
      #expect(reopened.compactRevision == 40)
      #expect(reopened.pendingCompaction == nil)
    }
  }

  @Test func anInterruptedCompactionResumesAtOpen() throws {
    try withStore { store, path in
      try populate(store)
      let before = try history(store, from: 6)
      try store.compact(6)
      #expect(try !store.compactStep(maxRows: 2))
      // A crash here: the schedule and the first step are committed.
      store.close()
      let reopened = try MVCCStore(path: path, options: testOptions())
      defer { reopened.close() }
      #expect(reopened.compactRevision == 6)
      #expect(reopened.pendingCompaction == 6)
      #expect(try history(reopened, from: 6) == before)
      // Rows the pending compaction has yet to remove do not count in the hash.
      let pendingHash = try reopened.hashKV(revision: 8)
      while try !reopened.compactStep(maxRows: 2) {}
      #expect(try history(reopened, from: 6) == before)
      #expect(try rows(reopened).map(\.0) == [5, 6, 7, 8])
      #expect(try reopened.hashKV(revision: 8) == pendingHash)
    }
  }

  @Test func aNewCompactionReplacesAPendingOne() throws {
    try withStore { store, _ in
      try populate(store)
      try store.compact(3)
      try store.compactStep(maxRows: 1)
      try store.compact(8)
      while try !store.compactStep(maxRows: 1) {}
      #expect(try rows(store).map(\.0) == [5, 8])
      try store.environment.read { txn throws(MVCCError) in
        let finished = try txn.get(store.buckets.meta, MetaKey.finishedCompact)
        #expect(finished == Revision(main: 8).bytes())
        let scheduled = try txn.get(store.buckets.meta, MetaKey.scheduledCompact)
        #expect(scheduled == Revision(main: 8).bytes())
      }
    }
  }
}
