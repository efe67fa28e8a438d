import EtcdProto
import Foundation
import Testing

@testable import MVCC

@Suite struct WriteTests {
  @Test func freshStoreIsAtRevisionOneAndFirstWriteIsTwo() throws {
    try withStore { store, _ in
      #expect(store.currentRevision == 1)
      #expect(store.compactRevision == -1)
      #expect(store.consistentIndex == 0)
      let put = try store.put(bytes("foo"), value: bytes("bar"))
      #expect(put.revision == 2)
      #expect(put.value == nil)
      #expect(
        try store.range(bytes("foo")).kvs == [keyValue("foo", "bar", create: 2, mod: 2, version: 1)]
      )
    }
  }

  @Test func versionsAcrossPutDeleteAndRecreate() throws {
    try withStore { store, _ in
      try store.put(bytes("k"), value: bytes("v1"))  // 2
      let second = try store.put(bytes("k"), value: bytes("v2"), lease: 7)  // 3
      #expect(second.value == keyValue("k", "v1", create: 2, mod: 2, version: 1))
      #expect(
        try store.range(bytes("k")).kvs == [
          keyValue("k", "v2", create: 2, mod: 3, version: 2, lease: 7)
        ])

      let deleted = try store.deleteRange(bytes("k"))  // 4
      #expect(deleted.revision == 4)
      #expect(deleted.value == [keyValue("k", "v2", create: 2, mod: 3, version: 2, lease: 7)])
      #expect(try store.range(bytes("k")).kvs.isEmpty)

      try store.put(bytes("k"), value: bytes("v3"))  // 5: a new life
      #expect(
        try store.range(bytes("k")).kvs == [keyValue("k", "v3", create: 5, mod: 5, version: 1)])
      #expect(
        try store.range(bytes("k"), revision: 3).kvs == [
          keyValue("k", "v2", create: 2, mod: 3, version: 2, lease: 7)
        ])
      #expect(try store.range(bytes("k"), revision: 4).kvs.isEmpty)
      #expect(store.currentRevision == 5)
    }
  }

  @Test func deletingNothingDoesNotAdvanceTheRevision() throws {
    try withStore { store, _ in
      try store.put(bytes("a"), value: bytes("1"))
      let result = try store.deleteRange(bytes("b"), rangeEnd: bytes("z"))
      #expect(result.value.isEmpty && result.events.isEmpty)
      #expect(result.revision == 2)
      #expect(store.currentRevision == 2)
      let empty = try store.write { _ in 42 }
      #expect(empty.value == 42 && empty.revision == 2)
    }
  }

  @Test func oneTxnIsOneRevisionWithSubRevisionsAndEvents() throws {
    try withStore { store, _ in
      try store.put(bytes("a"), value: bytes("old"))  // 2
      try store.put(bytes("b"), value: bytes("gone"))  // 3
      let result = try store.write { txn throws(MVCCError) in
        try txn.put(bytes("a"), value: bytes("new"))
        try txn.put(bytes("c"), value: bytes("fresh"))
        try txn.deleteRange(bytes("b"))
        // Reads inside see the transaction's own changes at its revision.
        let inside = try txn.range(bytes("a"), rangeEnd: bytes("\0"))
        #expect(keys(inside) == ["a", "c"])
        #expect(inside.revision == 4)
        return inside.count
      }
      #expect(result.value == 2)
      #expect(result.revision == 4)
      #expect(result.events.map(\.type) == [.put, .put, .delete])
      #expect(result.events[0].kv == keyValue("a", "new", create: 2, mod: 4, version: 2))
      #expect(result.events[0].prevKv == keyValue("a", "old", create: 2, mod: 2, version: 1))
      #expect(!result.events[1].hasPrevKv)
      var tombstone = Mvccpb_KeyValue()
      tombstone.key = bytes("b")
      tombstone.modRevision = 4
      #expect(result.events[2].kv == tombstone)
      #expect(result.events[2].prevKv == keyValue("b", "gone", create: 3, mod: 3, version: 1))
      // The rows carry sub revisions 0, 1, 2 under main revision 4.
      try store.environment.read { txn throws(MVCCError) in
        for sub in Int64(0)...1 {
          #expect(try txn.get(store.buckets.key, Revision(main: 4, sub: sub).bytes()) != nil)
        }
        #expect(
          try txn.get(store.buckets.key, Revision(main: 4, sub: 2).bytes(tombstone: true)) != nil)
      }
    }
  }

  @Test func twoPutsOfOneKeyInOneTxnCountTwoVersions() throws {
    try withStore { store, _ in
      let result = try store.write { txn throws(MVCCError) in
        try txn.put(bytes("k"), value: bytes("1"))
        return try txn.put(bytes("k"), value: bytes("2"))
      }
      #expect(result.value == keyValue("k", "1", create: 2, mod: 2, version: 1))
      #expect(
        try store.range(bytes("k")).kvs == [keyValue("k", "2", create: 2, mod: 2, version: 2)])
    }
  }

  @Test func deleteThenPutInOneTxnStartsANewLife() throws {
    try withStore { store, _ in
      try store.put(bytes("k"), value: bytes("1"))
      try store.write { txn throws(MVCCError) in
        try txn.deleteRange(bytes("k"))
        try txn.put(bytes("k"), value: bytes("2"))
      }
      #expect(
        try store.range(bytes("k")).kvs == [keyValue("k", "2", create: 3, mod: 3, version: 1)])
    }
  }

  @Test func aBodyThatThrowsBeforeChangingLeavesTheStoreUsable() throws {
    try withStore { store, _ in
      expectError(.futureRevision) {
        _ = try store.write { txn throws(MVCCError) in try txn.range(bytes("k"), revision: 9) }
      }
      try store.put(bytes("k"), value: bytes("v"))
      #expect(store.currentRevision == 2)
    }
  }

  @Test func aBodyThatThrowsAfterChangingPoisonsTheStore() throws {
    try withStore { store, _ in
      expectError(.futureRevision) {
        _ = try store.write { txn throws(MVCCError) in
          try txn.put(bytes("k"), value: bytes("v"))
          return try txn.range(bytes("k"), revision: 9)
        }
      }
      do {
        _ = try store.range(bytes("k"))
        Issue.record("a poisoned store answered")
      } catch {
        guard case .poisoned = error as? MVCCError else {
          Issue.record("expected .poisoned, got \(error)")
          return
        }
      }
    }
  }
}
