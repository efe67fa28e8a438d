import Foundation
import Testing

@testable import MVCC

@Suite struct BatchTests {
  @Test func consistentIndexCommitsWithTheBatchData() throws {
    try withStore { store, path in
      try store.beginBatch()
      try store.put(bytes("a"), value: bytes("1"))
      try store.put(bytes("b"), value: bytes("2"))
      try store.setConsistentIndex(10)
      try store.commitBatch()

      try store.beginBatch()
      try store.put(bytes("c"), value: bytes("3"))
      try store.setConsistentIndex(11)
      // A crash before the commit: close aborts the batch as a crash would.
      store.close()

      let reopened = try MVCCStore(path: path, options: testOptions())
      defer { reopened.close() }
      #expect(reopened.consistentIndex == 10)
      #expect(reopened.currentRevision == 3)
      #expect(keys(try reopened.range(Data([0]), rangeEnd: Data([0]))) == ["a", "b"])
    }
  }

  @Test func consistentIndexAloneCommitsAtOnceOutsideABatch() throws {
    try withStore { store, path in
      try store.setConsistentIndex(42)
      store.close()
      let reopened = try MVCCStore(path: path, options: testOptions())
      defer { reopened.close() }
      #expect(reopened.consistentIndex == 42)
      #expect(reopened.currentRevision == 1)
    }
  }

  @Test func readsSeeTheBatchAndOtherReadersOnlyCommits() throws {
    try withStore { store, _ in
      try store.put(bytes("k"), value: bytes("committed"))
      try store.beginBatch()
      try store.put(bytes("k"), value: bytes("applied"))
      #expect(try store.range(bytes("k")).kvs.first?.value == bytes("applied"))
      #expect(store.currentRevision == 3)
      let outside = try store.environment.read { txn throws(MVCCError) in
        try txn.get(store.buckets.key, Revision(main: 3).bytes())
      }
      #expect(outside == nil)
      try store.commitBatch()
      let afterCommit = try store.environment.read { txn throws(MVCCError) in
        try txn.get(store.buckets.key, Revision(main: 3).bytes())
      }
      #expect(afterCommit != nil)
    }
  }

  @Test func serverBucketsWriteInTheBatch() throws {
    try withStore { store, path in
      try store.beginBatch()
      try store.put(bytes("k"), value: bytes("v"))
      try store.withWriteTransaction { txn throws(MVCCError) in
        try txn.put(store.buckets.lease, [0, 0, 0, 0, 0, 0, 0, 9], [1, 2, 3])
      }
      try store.commitBatch()
      store.close()
      let reopened = try MVCCStore(path: path, options: testOptions())
      defer { reopened.close() }
      let lease = try reopened.environment.read { txn throws(MVCCError) in
        try txn.get(reopened.buckets.lease, [0, 0, 0, 0, 0, 0, 0, 9])
      }
      #expect(lease == [1, 2, 3])
    }
  }

  @Test func everyEtcdBucketExists() throws {
    try withStore { store, _ in
      let names = [
        store.buckets.key, store.buckets.meta, store.buckets.lease, store.buckets.members,
        store.buckets.membersRemoved, store.buckets.alarm, store.buckets.auth,
        store.buckets.authUsers, store.buckets.authRoles, store.buckets.cluster,
      ].map(\.name)
      #expect(
        names == [
          "key", "meta", "lease", "members", "members_removed", "alarm", "auth", "authUsers",
          "authRoles", "cluster",
        ])
    }
  }

  @Test func theMapGrowsAcrossBatches() throws {
    try withStore { store, _ in
      let initial = store.environment.mapSize
      let value = Data(repeating: 0x5A, count: 4000)
      for batch in 0..<10 {
        try store.beginBatch()
        for key in 0..<100 { try store.put(bytes("k\(batch)-\(key)"), value: value) }
        try store.commitBatch()
      }
      #expect(store.environment.mapSize > initial)
      #expect(try store.range(Data([0]), rangeEnd: Data([0]), countOnly: true).count == 1000)
    }
  }
}
