import Foundation
import Testing

@testable import MVCC

/// The example of etcd's keyIndex documentation: put 1, put 2, delete 3,
/// put 4, delete 5 (here at main revisions 2 to 6, sub 0, since a store's
/// first write is 2), and what compaction leaves at each revision.
@Suite struct KeyHistoryTests {
  func example() -> KeyHistory {
    var history = KeyHistory()
    history.put(Revision(main: 2))
    history.put(Revision(main: 3))
    history.tombstone(Revision(main: 4))
    history.put(Revision(main: 5))
    history.tombstone(Revision(main: 6))
    return history
  }

  func revisions(_ history: KeyHistory) -> [[Int64]] {
    history.generations.map { $0.revisions.map(\.main) }
  }

  @Test func generationsEndWithTombstones() {
    let history = example()
    #expect(revisions(history) == [[2, 3, 4], [5, 6], []])
    #expect(history.generations.map(\.created) == [2, 5, 0])
    #expect(history.generations.map(\.version) == [3, 2, 0])
    #expect(!history.isLive && !history.isEmpty)
  }

  @Test func getSeesEachLifeAndTheGapsBetween() {
    let history = example()
    #expect(history.get(at: 1) == nil)
    #expect(history.get(at: 2)! == (Revision(main: 2), 2, 1))
    #expect(history.get(at: 3)! == (Revision(main: 3), 2, 2))
    #expect(history.get(at: 4) == nil)
    #expect(history.get(at: 5)! == (Revision(main: 5), 5, 1))
    #expect(history.get(at: 6) == nil)
    #expect(history.get(at: 100) == nil)
  }

  @Test func compactionKeepsTheVersionAtTheRevisionAndDropsEndedLives() {
    var keep = Set<Revision>()
    var history = example()
    history.compact(at: 3, keep: &keep)
    #expect(revisions(history) == [[3, 4], [5, 6], []])
    #expect(keep == [Revision(main: 3)])

    keep = []
    history.compact(at: 5, keep: &keep)
    #expect(revisions(history) == [[5, 6], []])
    #expect(keep == [Revision(main: 5)])
    // Versions and create revisions survive the revisions they came from.
    #expect(history.get(at: 5)! == (Revision(main: 5), 5, 1))

    keep = []
    history.compact(at: 6, keep: &keep)
    #expect(history.isEmpty)
    #expect(keep.isEmpty)
  }

  @Test func compactionBeforeCreationKeepsEverything() {
    var keep = Set<Revision>()
    var history = example()
    history.compact(at: 1, keep: &keep)
    #expect(revisions(history) == [[2, 3, 4], [5, 6], []])
    #expect(keep.isEmpty)
  }

  @Test func keepMatchesCompactWithoutChangingAnything() {
    for main in Int64(1)...7 {
      let history = example()
      var wouldKeep = Set<Revision>()
      history.keep(at: main, into: &wouldKeep)
      var compacted = history
      var kept = Set<Revision>()
      compacted.compact(at: main, keep: &kept)
      #expect(wouldKeep == kept, "at \(main)")
      #expect(history == example())
    }
  }

  @Test func restoredHistoryContinuesVersions() {
    var history = KeyHistory(restoring: Revision(main: 9, sub: 1), created: 4, version: 6)
    history.put(Revision(main: 10))
    #expect(history.get(at: 9)! == (Revision(main: 9, sub: 1), 4, 6))
    #expect(history.get(at: 10)! == (Revision(main: 10), 4, 7))
  }
}

@Suite struct KeyIndexTests {
  @Test func keepsKeysInByteOrderAcrossChunkSplits() throws {
    var index = KeyIndex()
    var generator = SeededGenerator(seed: 7)
    var expected: [String] = []
    for round in 0..<3000 {
      let key = String(format: "%05d", Int.random(in: 0..<100_000, using: &generator))
      index.put(bytes(key), at: Revision(main: Int64(round + 2)))
      expected.append(key)
    }
    expected = Array(Set(expected)).sorted()
    var seen: [String] = []
    try index.visit(from: bytes(""), to: nil) { key, _ in
      seen.append(String(decoding: key, as: UTF8.self))
      return true
    }
    #expect(seen == expected)
    #expect(index.count == expected.count)
    // Bounded ranges start and stop inside chunks.
    var bounded: [String] = []
    try index.visit(from: bytes("2"), to: bytes("3")) { key, _ in
      bounded.append(String(decoding: key, as: UTF8.self))
      return true
    }
    #expect(bounded == expected.filter { $0.hasPrefix("2") })
  }

  @Test func shorterKeySortsFirstAndHighBytesSortLast() throws {
    var index = KeyIndex()
    let keys = [Data([0xFF]), Data([0x61, 0x00]), Data([0x61]), Data([0x80, 0x01]), Data()]
    for (offset, key) in keys.enumerated() { index.put(key, at: Revision(main: Int64(offset + 2))) }
    var seen: [Data] = []
    try index.visit(from: Data(), to: nil) { key, _ in
      seen.append(key)
      return true
    }
    #expect(seen == [Data(), Data([0x61]), Data([0x61, 0x00]), Data([0x80, 0x01]), Data([0xFF])])
  }

  @Test func compactionRemovesEmptyKeysAndEqualityIgnoresChunking() {
    var index = KeyIndex()
    for number in 0..<1200 {
      let key = bytes(String(format: "k%04d", number))
      index.put(key, at: Revision(main: Int64(2 + number)))
      if number % 2 == 0 { index.tombstone(key, at: Revision(main: Int64(2 + number), sub: 1)) }
    }
    let keep = index.compact(at: 2000)
    #expect(index.count == 600)
    #expect(keep.count == 600)
    let survivors = (0..<1200).filter { $0 % 2 == 1 }.map { bytes(String(format: "k%04d", $0)) }
    let rebuilt = KeyIndex(
      sortedKeys: survivors, histories: survivors.map { index.history($0)! })
    #expect(rebuilt == index)
  }
}
