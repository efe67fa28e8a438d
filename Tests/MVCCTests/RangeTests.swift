import Foundation
import Testing

@testable import MVCC

@Suite struct RangeTests {
  /// a=1 at 2, b=2 at 3, c=3 at 4, d=4 at 5, b deleted at 6, ab=5 at 7.
  func populate(_ store: MVCCStore) throws {
    for (key, value) in [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")] {
      try store.put(bytes(key), value: bytes(value))
    }
    try store.deleteRange(bytes("b"))
    try store.put(bytes("ab"), value: bytes("5"))
  }

  @Test func everyRangeEndForm() throws {
    try withStore { store, _ in
      try populate(store)
      #expect(keys(try store.range(bytes("c"))) == ["c"])
      #expect(keys(try store.range(bytes("b"))) == [])
      #expect(keys(try store.range(bytes("ab"), rangeEnd: Data([0]))) == ["ab", "c", "d"])
      #expect(keys(try store.range(Data([0]), rangeEnd: Data([0]))) == ["a", "ab", "c", "d"])
      #expect(keys(try store.range(bytes("a"), rangeEnd: bytes("c"))) == ["a", "ab"])
      // The prefix "a": range end is the prefix with its last byte plus one.
      #expect(keys(try store.range(bytes("a"), rangeEnd: bytes("b"))) == ["a", "ab"])
      #expect(keys(try store.range(bytes("c"), rangeEnd: bytes("c"))) == [])
      #expect(keys(try store.range(bytes("d"), rangeEnd: bytes("a"))) == [])
    }
  }

  @Test func limitTruncatesKvsButCountsAll() throws {
    try withStore { store, _ in
      try populate(store)
      let limited = try store.range(bytes("a"), rangeEnd: Data([0]), limit: 2)
      #expect(keys(limited) == ["a", "ab"])
      #expect(limited.count == 4)
      #expect(limited.revision == 7)
      let counted = try store.range(bytes("a"), rangeEnd: Data([0]), countOnly: true)
      #expect(counted.kvs.isEmpty && counted.count == 4)
      #expect(try store.range(bytes("a"), rangeEnd: Data([0]), limit: 10).count == 4)
    }
  }

  @Test func olderRevisionsSeeTheStateThen() throws {
    try withStore { store, _ in
      try populate(store)
      let all = Data([0])
      #expect(keys(try store.range(all, rangeEnd: all, revision: 1)) == [])
      #expect(keys(try store.range(all, rangeEnd: all, revision: 3)) == ["a", "b"])
      #expect(keys(try store.range(all, rangeEnd: all, revision: 5)) == ["a", "b", "c", "d"])
      #expect(keys(try store.range(all, rangeEnd: all, revision: 6)) == ["a", "c", "d"])
      let old = try store.range(bytes("b"), revision: 5)
      #expect(old.kvs == [keyValue("b", "2", create: 3, mod: 3, version: 1)])
      // The header revision is the store's, not the one read at.
      #expect(old.revision == 7)
    }
  }

  @Test func futureAndCompactedRevisionsAreErrors() throws {
    try withStore { store, _ in
      try populate(store)
      expectError(.futureRevision) { _ = try store.range(bytes("a"), revision: 8) }
      try store.compact(5)
      expectError(.compacted) { _ = try store.range(bytes("a"), revision: 4) }
      // Reading at the compacted revision itself is allowed.
      #expect(
        keys(try store.range(bytes("a"), rangeEnd: bytes("e"), revision: 5)) == [
          "a", "b", "c", "d",
        ])
      #expect(MVCCError.compacted.description == "mvcc: required revision has been compacted")
      #expect(
        MVCCError.futureRevision.description == "mvcc: required revision is a future revision")
    }
  }
}
