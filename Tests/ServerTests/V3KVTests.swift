import EtcdProto
import Foundation
import MVCC
import Testing

@testable import Server

@Suite("v3 KV semantics over the MVCC store")
struct V3KVTests {
  /// A fresh store in a scratch file, removed afterwards.
  func withStore(_ body: (MVCCStore) throws -> Void) throws {
    let path = "/tmp/swetcd-v3kv-\(UUID().uuidString).db"
    defer {
      try? FileManager.default.removeItem(atPath: path)
      try? FileManager.default.removeItem(atPath: path + "-lock")
    }
    let store = try MVCCStore(path: path)
    defer { store.close() }
    try body(store)
  }

  /// Evaluates `request`'s path, then applies it as one write, as the
  /// server does; no lease exists.
  func applyTxn(_ request: Etcdserverpb_TxnRequest, _ store: MVCCStore) throws
    -> MVCCWriteResult<Etcdserverpb_TxnResponse?>
  {
    let path = try V3KV.path(
      request, current: store.currentRevision, compacted: store.compactRevision,
      compare: store.compare, keyExists: { _ throws(MVCCError) in true },
      leaseExists: { _ in false })
    var remaining = path[...]
    return try store.write { txn throws(MVCCError) in
      try? V3KV.txn(request, path: &remaining, &txn, leaseExists: { _ in false })
    }
  }

  func put(_ store: MVCCStore, _ key: String, _ value: String) throws {
    var request = Etcdserverpb_PutRequest()
    request.key = Data(key.utf8)
    request.value = Data(value.utf8)
    try store.write { txn throws(MVCCError) in
      _ = try? V3KV.put(request, &txn, leaseExists: { _ in false })
    }
  }

  func range(_ store: MVCCStore, _ configure: (inout Etcdserverpb_RangeRequest) -> Void) throws
    -> Etcdserverpb_RangeResponse
  {
    var request = Etcdserverpb_RangeRequest()
    request.key = Data("k".utf8)
    request.rangeEnd = Data("l".utf8)
    configure(&request)
    return try V3KV.range(request) { k, e, r, l, c throws(MVCCError) in
      try store.range(k, rangeEnd: e, revision: r, limit: l, countOnly: c)
    }
  }

  @Test func rangeLimitsSortsAndFilters() throws {
    try withStore { store in
      try put(store, "k1", "c")
      try put(store, "k2", "a")
      try put(store, "k3", "b")
      try put(store, "k1", "d")
      let limited = try range(store) { $0.limit = 2 }
      #expect(limited.kvs.map { String(decoding: $0.key, as: UTF8.self) } == ["k1", "k2"])
      #expect(limited.more && limited.count == 3)
      let exact = try range(store) { $0.limit = 3 }
      #expect(!exact.more)
      let byValue = try range(store) {
        $0.sortTarget = .value
        $0.sortOrder = .descend
        $0.limit = 2
      }
      #expect(byValue.kvs.map { String(decoding: $0.value, as: UTF8.self) } == ["d", "b"])
      #expect(byValue.more)
      // An order outside the enum sorts nothing but still reads every
      // match for `count`, as etcd 3.4.
      let unknownOrder = try range(store) {
        $0.sortTarget = .value
        $0.sortOrder = .UNRECOGNIZED(7)
        $0.limit = 2
      }
      #expect(unknownOrder.kvs.map { String(decoding: $0.key, as: UTF8.self) } == ["k1", "k2"])
      #expect(unknownOrder.more && unknownOrder.count == 3)
      let recent = try range(store) { $0.minModRevision = 4 }
      #expect(recent.kvs.map { String(decoding: $0.key, as: UTF8.self) } == ["k1", "k3"])
      let keysOnly = try range(store) { $0.keysOnly = true }
      #expect(keysOnly.kvs.allSatisfy { $0.value.isEmpty } && keysOnly.kvs.count == 3)
      let old = try range(store) { $0.revision = 2 }
      #expect(old.kvs.count == 1 && old.header.revision == 5)
      #expect(throws: V3Error.futureRevision) { _ = try range(store) { $0.revision = 9 } }
    }
  }

  @Test func putIgnoringValueNeedsTheKey() throws {
    try withStore { store in
      var request = Etcdserverpb_PutRequest()
      request.key = Data("k".utf8)
      request.ignoreValue = true
      var failure: V3Error?
      try store.write { txn throws(MVCCError) in
        do throws(V3Error) { _ = try V3KV.put(request, &txn, leaseExists: { _ in false }) } catch {
          failure = error
        }
      }
      #expect(failure == .keyNotFound)
      #expect(store.currentRevision == 1, "nothing written")
    }
  }

  @Test func txnRunsOneBranchAtOneRevision() throws {
    try withStore { store in
      try put(store, "k", "v")
      var compare = Etcdserverpb_Compare()
      compare.key = Data("k".utf8)
      compare.target = .value
      compare.result = .equal
      compare.value = Data("v".utf8)
      var write = Etcdserverpb_RequestOp()
      write.requestPut.key = Data("k2".utf8)
      var read = Etcdserverpb_RequestOp()
      read.requestRange.key = Data("k2".utf8)
      var request = Etcdserverpb_TxnRequest()
      request.compare = [compare]
      request.success = [write, write, read]
      let result = try applyTxn(request, store)
      #expect(result.value?.succeeded == true)
      #expect(result.value?.responses.last?.responseRange.kvs.first?.version == 2)
      #expect(store.currentRevision == 3, "one revision for the whole txn")
    }
  }

  /// etcd's sub-responses: a put carries the txn's revision, a delete
  /// that removed nothing before any change the revision before it, a
  /// nested txn an empty header.
  @Test func txnSubResponseHeaders() throws {
    try withStore { store in
      try put(store, "k", "v")
      var missing = Etcdserverpb_RequestOp()
      missing.requestDeleteRange.key = Data("none".utf8)
      var write = Etcdserverpb_RequestOp()
      write.requestPut.key = Data("k".utf8)
      var nested = Etcdserverpb_RequestOp()
      nested.requestTxn = Etcdserverpb_TxnRequest()
      var request = Etcdserverpb_TxnRequest()
      request.success = [missing, write, missing, nested]
      let result = try applyTxn(request, store)
      let responses = try #require(result.value?.responses)
      #expect(responses.map(\.responseDeleteRange.header.revision) == [2, 0, 3, 0])
      #expect(responses[1].responsePut.header.revision == 3)
      #expect(responses[3].responseTxn.hasHeader && responses[3].responseTxn.header.revision == 0)
    }
  }

  @Test func rangeTiesKeepKeyOrderBothWays() throws {
    try withStore { store in
      try put(store, "k1", "b")
      try put(store, "k2", "a")
      try put(store, "k3", "b")
      for order in [Etcdserverpb_RangeRequest.SortOrder.ascend, .descend] {
        let sorted = try range(store) {
          $0.sortTarget = .value
          $0.sortOrder = order
        }
        let keys = sorted.kvs.map { String(decoding: $0.key, as: UTF8.self) }
        #expect(keys == (order == .ascend ? ["k2", "k1", "k3"] : ["k1", "k3", "k2"]))
      }
    }
  }

  /// etcd checks every put on the chosen path, then every range's
  /// revision, before the txn changes anything.
  @Test func txnRangesOutsideTheStoreRefuseTheTxn() throws {
    try withStore { store in
      try put(store, "k", "v")
      try put(store, "k", "w")
      try store.compact(2)
      var write = Etcdserverpb_RequestOp()
      write.requestPut.key = Data("k".utf8)
      var read = Etcdserverpb_RequestOp()
      read.requestRange.key = Data("k".utf8)
      func check(_ revision: Int64, lease: Int64 = 0) throws(V3Error) {
        write.requestPut.lease = lease
        read.requestRange.revision = revision
        var request = Etcdserverpb_TxnRequest()
        request.success = [read, write]
        _ = try V3KV.path(
          request, current: store.currentRevision, compacted: store.compactRevision,
          compare: store.compare, keyExists: { _ throws(MVCCError) in true },
          leaseExists: { _ in false })
      }
      #expect(throws: V3Error.futureRevision) { try check(4) }
      #expect(throws: V3Error.compacted) { try check(1) }
      #expect(throws: V3Error.leaseNotFound) { try check(4, lease: 5) }
      try check(2)
      try check(3)
    }
  }

  @Test func putsNeedTheirLease() throws {
    try withStore { store in
      var put = Etcdserverpb_RequestOp()
      put.requestPut.key = Data("k".utf8)
      put.requestPut.lease = 7
      var request = Etcdserverpb_TxnRequest()
      request.success = [put]
      #expect(throws: V3Error.leaseNotFound) {
        _ = try V3KV.path(
          request, current: store.currentRevision, compacted: store.compactRevision,
          compare: store.compare, keyExists: { _ throws(MVCCError) in true },
          leaseExists: { $0 == 8 })
      }
      let path = try V3KV.path(
        request, current: store.currentRevision, compacted: store.compactRevision,
        compare: store.compare, keyExists: { _ throws(MVCCError) in true },
        leaseExists: { $0 == 7 })
      #expect(path == [true])
    }
  }
}
