import EtcdProto
import Foundation
import Testing

@testable import Server

@Suite("v3 request checks, as etcd makes them before proposing")
struct V3RequestChecksTests {
  func put(_ key: String) -> Etcdserverpb_RequestOp {
    var op = Etcdserverpb_RequestOp()
    op.requestPut.key = Data(key.utf8)
    return op
  }

  func delete(_ key: String, _ end: String = "") -> Etcdserverpb_RequestOp {
    var op = Etcdserverpb_RequestOp()
    op.requestDeleteRange.key = Data(key.utf8)
    op.requestDeleteRange.rangeEnd = Data(end.utf8)
    return op
  }

  func txn(_ success: [Etcdserverpb_RequestOp], _ failure: [Etcdserverpb_RequestOp] = [])
    -> Etcdserverpb_TxnRequest
  {
    var request = Etcdserverpb_TxnRequest()
    request.success = success
    request.failure = failure
    return request
  }

  func nested(_ success: [Etcdserverpb_RequestOp], _ failure: [Etcdserverpb_RequestOp] = [])
    -> Etcdserverpb_RequestOp
  {
    var op = Etcdserverpb_RequestOp()
    op.requestTxn = txn(success, failure)
    return op
  }

  func verdict(_ request: Etcdserverpb_TxnRequest, maxOps: Int = 128) -> V3Error? {
    do {
      try V3RequestChecks.check(request, maxOps: maxOps)
      return nil
    } catch {
      return error
    }
  }

  @Test func singleRequests() {
    #expect(throws: V3Error.emptyKey) { try V3RequestChecks.check(Etcdserverpb_RangeRequest()) }
    var put = Etcdserverpb_PutRequest()
    put.key = Data([1])
    put.ignoreValue = true
    put.value = Data([2])
    #expect(throws: V3Error.valueProvided) { try V3RequestChecks.check(put) }
    put.value = Data()
    put.ignoreLease = true
    put.lease = 5
    #expect(throws: V3Error.leaseProvided) { try V3RequestChecks.check(put) }
    var range = Etcdserverpb_RangeRequest()
    range.key = Data([1])
    range.sortOrder = .UNRECOGNIZED(7)
    range.sortTarget = .UNRECOGNIZED(9)
    #expect(throws: Never.self) { try V3RequestChecks.check(range) }
    for order in [Etcdserverpb_RangeRequest.SortOrder.none, .ascend, .descend] {
      range.sortOrder = order
      #expect(throws: V3Error.invalidSortOption) { try V3RequestChecks.check(range) }
    }
    range.sortTarget = .value
    #expect(throws: Never.self) { try V3RequestChecks.check(range) }
  }

  @Test func limitsOperations() {
    let ops = (0..<3).map { put("k\($0)") }
    #expect(verdict(txn(ops), maxOps: 3) == nil)
    #expect(verdict(txn(ops + [put("z")]), maxOps: 3) == .tooManyOps)
    #expect(verdict(txn([], ops + [put("z")]), maxOps: 3) == .tooManyOps)
    var compares = txn([])
    compares.compare = Array(repeating: Etcdserverpb_Compare(), count: 4)
    #expect(verdict(compares, maxOps: 3) == .tooManyOps)
    compares.compare = [Etcdserverpb_Compare()]
    #expect(verdict(compares) == .emptyKey, "a compare needs a key")
    #expect(verdict(txn([nested([put("")])])) == .emptyKey, "nested ops are checked")
    #expect(verdict(txn([], [Etcdserverpb_RequestOp()])) == .keyNotFound, "an op with no request")
    #expect(verdict(txn([nested([Etcdserverpb_RequestOp()])])) == .keyNotFound)
  }

  /// etcd 3.4.23's answers, measured with grpcio: a nested txn may use only
  /// what its enclosing levels left of the budget.
  @Test func nestedTxnsShareTheBudget() {
    func range() -> Etcdserverpb_RequestOp {
      var op = Etcdserverpb_RequestOp()
      op.requestRange.key = Data("a".utf8)
      return op
    }
    func shape(outer: Int, inner: Int) -> Etcdserverpb_TxnRequest {
      txn(
        [nested(Array(repeating: range(), count: inner))]
          + Array(repeating: range(), count: outer - 1))
    }
    #expect(verdict(shape(outer: 1, inner: 127)) == nil)
    #expect(verdict(shape(outer: 1, inner: 128)) == .tooManyOps)
    #expect(verdict(shape(outer: 64, inner: 64)) == nil)
    #expect(verdict(shape(outer: 64, inner: 65)) == .tooManyOps)
    #expect(verdict(shape(outer: 2, inner: 127)) == .tooManyOps)
    // A chain of single-op txns: the 129th level has nothing left.
    func chain(_ depth: Int) -> Etcdserverpb_TxnRequest {
      var request = txn([range()])
      for _ in 1..<depth { request = txn([nested(request.success)]) }
      return request
    }
    #expect(verdict(chain(128)) == nil)
    #expect(verdict(chain(129)) == .tooManyOps)
  }

  @Test func duplicateWrites() {
    #expect(verdict(txn([put("a"), put("a")])) == .duplicateKey)
    #expect(verdict(txn([put("a")], [put("a")])) == nil, "one branch runs")
    #expect(verdict(txn([put("b"), delete("a", "c")])) == .duplicateKey)
    #expect(verdict(txn([put("c"), delete("a", "c")])) == nil, "range ends are exclusive")
    #expect(verdict(txn([put("z"), delete("a", "\0")])) == .duplicateKey, "from-key")
    #expect(verdict(txn([delete("a", "c"), delete("b", "d")])) == nil, "deletes may overlap")
    #expect(verdict(txn([nested([put("a")], [put("a")])])) == nil)
    #expect(verdict(txn([nested([put("a")]), put("a")])) == .duplicateKey)
    #expect(verdict(txn([nested([put("a")]), nested([], [put("a")])])) == .duplicateKey)
    #expect(verdict(txn([nested([delete("a")]), put("a")])) == .duplicateKey)
    #expect(verdict(txn([delete("a", "b"), nested([put("a")])])) == .duplicateKey)
  }

  @Test func intervals() {
    #expect(KeyInterval(key: [1], rangeEnd: []).contains([1]))
    #expect(!KeyInterval(key: [1], rangeEnd: []).contains([1, 0]))
    #expect(KeyInterval(key: [1], rangeEnd: [0]).contains([200]))
    #expect(!KeyInterval(key: [1], rangeEnd: [3]).contains([3]))
    #expect(!KeyInterval(key: [1], rangeEnd: [3]).contains([0, 9]))
  }

  /// The size etcd 3.4 measures: its raft entry, whose request ID's varint
  /// grows with the member ID's low 16 bits (etcd's idutil generator).
  @Test func entrySizeIsEtcdsRaftEntry() {
    // 49-bit ID: 7 bytes; header 2 + 1 + 1 + 7; request tag 1, length 1.
    #expect(V3RequestChecks.etcdEntrySize(requestBytes: 10, memberID: 0x1) == 11 + 2 + 10)
    // 64-bit ID: 10 bytes.
    #expect(V3RequestChecks.etcdEntrySize(requestBytes: 10, memberID: 0x8000) == 14 + 2 + 10)
    // Only the low 16 bits count; a 1.5 MiB request's length takes 3 bytes.
    #expect(
      V3RequestChecks.etcdEntrySize(requestBytes: 1_572_864, memberID: 0xFFFF_0000_0000_0001)
        == 11 + 4 + 1_572_864)
  }
}
