import Foundation
import Storage
import Testing

@testable import MVCC

@Suite struct HashKVTests {
  func apply(_ store: MVCCStore, lastValue: String = "3") throws {
    try store.put(bytes("a"), value: bytes("1"))
    try store.put(bytes("b"), value: bytes("2"))
    try store.deleteRange(bytes("a"))
    try store.put(bytes("b"), value: bytes(lastValue))
  }

  @Test func equalHistoriesHashEqual() throws {
    try withStore { first, _ in
      try withStore { second, _ in
        try apply(first)
        try apply(second)
        #expect(try first.hashKV() == second.hashKV())
        for revision in Int64(1)...5 {
          #expect(try first.hashKV(revision: revision) == second.hashKV(revision: revision))
        }
        try first.compact(3)
        try first.compactStep()
        try second.compact(3)
        try second.compactStep()
        #expect(try first.hashKV(revision: 4) == second.hashKV(revision: 4))
      }
    }
  }

  @Test func differentHistoriesHashDifferently() throws {
    try withStore { first, _ in
      try withStore { second, _ in
        try apply(first)
        try apply(second, lastValue: "4")
        #expect(try first.hashKV().hash != second.hashKV().hash)
        // Up to the revision before they differ, they agree.
        #expect(try first.hashKV(revision: 4) == second.hashKV(revision: 4))
        #expect(try first.hashKV(revision: 2).hash != first.hashKV(revision: 3).hash)
      }
    }
  }

  @Test func hashIsCRC32COverBucketNameThenRowKeysAndValues() throws {
    try withStore { store, _ in
      try store.put(bytes("a"), value: bytes("1"))
      try store.deleteRange(bytes("a"))
      var expected = CRC32C.update(0, Array("key".utf8))
      try store.environment.read { txn throws(MVCCError) in
        for (revision, tombstone) in [(Revision(main: 2), false), (Revision(main: 3), true)] {
          let key = revision.bytes(tombstone: tombstone)
          expected = CRC32C.update(expected, key)
          expected = CRC32C.update(expected, try txn.get(store.buckets.key, key)!)
        }
      }
      #expect(try store.hashKV() == HashKVResult(hash: expected, revision: 3, compactRevision: -1))
      #expect(CRC32C.update(0, Array("123456789".utf8)) == 0xE306_9283)
    }
  }

  /// Hashes that etcd 3.4.23 (Debian's etcd-server) reported through
  /// `etcdctl endpoint hashkv` after the same writes on a fresh member, so
  /// the rows (revision keys and encoded key-values) match etcd's bytes.
  @Test func hashesMatchEtcd() throws {
    try withStore { store, _ in
      try store.put(bytes("foo"), value: bytes("bar"))  // 2
      try store.put(bytes("foo"), value: bytes("baz"))  // 3
      try store.put(bytes("a"), value: bytes("1"))  // 4
      try store.deleteRange(bytes("foo"))  // 5
      try store.put(bytes("b"), value: bytes("2"))  // 6
      try store.write { txn throws(MVCCError) in  // 7
        try txn.put(bytes("x"), value: bytes("1"))
        try txn.put(bytes("y"), value: bytes("2"))
        try txn.deleteRange(bytes("a"))
      }
      try store.put(bytes("foo"), value: bytes("again"))  // 8
      let etcd: [(revision: Int64, hash: UInt32)] = [
        (0, 1_814_405_828), (3, 2_020_292_994), (5, 4_155_522_675), (7, 424_006_387),
      ]
      for (revision, hash) in etcd {
        #expect(try store.hashKV(revision: revision).hash == hash, "at \(revision)")
      }
      try store.compact(4)
      #expect(
        try store.hashKV() == HashKVResult(hash: 3_708_461_549, revision: 8, compactRevision: 4))
      #expect(try store.hashKV(revision: 6).hash == 1_427_892_147)
      try store.compactStep()
      #expect(try store.hashKV().hash == 3_708_461_549)
      #expect(try store.hashKV(revision: 6).hash == 1_427_892_147)
    }
  }

  @Test func hashErrors() throws {
    try withStore { store, _ in
      try apply(store)
      expectError(.futureRevision) { _ = try store.hashKV(revision: 6) }
      try store.compact(3)
      // Unlike a read, a hash at the compacted revision itself is refused.
      expectError(.compacted) { _ = try store.hashKV(revision: 3) }
      #expect(try store.hashKV(revision: 4).compactRevision == 3)
    }
  }
}
