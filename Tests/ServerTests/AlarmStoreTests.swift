import EtcdProto
import Foundation
import MVCC
import Testing

@testable import Server

@Suite("alarms in the backend and the space quota's cost")
struct AlarmStoreTests {
  @Test("alarms persist in the alarm bucket, keyed by the encoded member, and reload")
  func persistence() throws {
    let path = "/tmp/swetcd-alarm-\(UUID().uuidString).db"
    defer {
      try? FileManager.default.removeItem(atPath: path)
      try? FileManager.default.removeItem(atPath: path + "-lock")
    }
    var alarms = AlarmStore()
    do {
      let store = try MVCCStore(path: path)
      defer { store.close() }
      try store.beginBatch()
      let raised = try #require(try alarms.activate(7, .nospace, store))
      #expect(raised.memberID == 7 && raised.alarm == .nospace)
      // Raising it again returns the same alarm and adds no row.
      #expect(try alarms.activate(7, .nospace, store) == raised)
      _ = try alarms.activate(3, .corrupt, store)
      try store.commitBatch()
      let rows = try store.environment.read { txn throws(MVCCError) -> [[UInt8]] in
        var rows: [[UInt8]] = []
        try txn.forEach(store.buckets.alarm) { key, value throws(MVCCError) in
          #expect(value.isEmpty)
          rows.append(Array(key))
          return true
        }
        return rows
      }
      #expect(rows.count == 2)
      #expect(rows.contains(try raised.serializedBytes()))
    }
    var reloaded = AlarmStore()
    let store = try MVCCStore(path: path)
    defer { store.close() }
    try reloaded.load(store)
    #expect(
      reloaded.get(.none).map(\.etcdText) == [
        "memberID:7 alarm:NOSPACE ", "memberID:3 alarm:CORRUPT ",
      ])
    #expect(reloaded.get(.corrupt).map(\.memberID) == [3])
    #expect(reloaded.isActive(.nospace))
    #expect(try reloaded.deactivate(7, .corrupt, store) == nil)
    #expect(try reloaded.deactivate(7, .nospace, store)?.memberID == 7)
    #expect(!reloaded.isActive(.nospace))
    var again = AlarmStore()
    try again.load(store)
    #expect(again.get(.none).map(\.memberID) == [3])
  }

  @Test("NONE from member 0 raises nothing and writes no row; NONE from a member is kept")
  func emptyAlarm() throws {
    let path = "/tmp/swetcd-alarm-\(UUID().uuidString).db"
    defer {
      try? FileManager.default.removeItem(atPath: path)
      try? FileManager.default.removeItem(atPath: path + "-lock")
    }
    var alarms = AlarmStore()
    let store = try MVCCStore(path: path)
    defer { store.close() }
    try store.beginBatch()
    #expect(try alarms.activate(0, .none, store) == nil)
    #expect(try alarms.activate(5, .none, store)?.memberID == 5)
    try store.commitBatch()
    var reloaded = AlarmStore()
    try reloaded.load(store)
    #expect(reloaded.get(.none).map(\.etcdText) == ["memberID:5 "])
  }

  @Test("cost as etcd's quota: 256 + key + value per put, the costlier txn branch, 64 per lease")
  func cost() {
    var put = Etcdserverpb_PutRequest()
    put.key = Data("key".utf8)
    put.value = Data(repeating: 1, count: 100)
    #expect(SpaceQuota.cost(put) == 359)
    var putOp = Etcdserverpb_RequestOp()
    putOp.requestPut = put
    var deleteOp = Etcdserverpb_RequestOp()
    deleteOp.requestDeleteRange.key = Data("key".utf8)
    var nested = Etcdserverpb_RequestOp()
    nested.requestTxn.success = [putOp, putOp]
    var txn = Etcdserverpb_TxnRequest()
    txn.success = [putOp, deleteOp]
    txn.failure = [putOp, putOp, nested]
    #expect(SpaceQuota.cost(txn) == 2 * 359)
    var request = Swetcdpb_InternalRequest()
    request.txn = Etcdserverpb_TxnRequest()
    request.txn.failure = [deleteOp, nested]
    #expect(SpaceQuota.cost(request) == 0)
    request.leaseGrant.ttl = 5
    #expect(SpaceQuota.cost(request) == 64)
    request.compaction.revision = 2
    #expect(SpaceQuota.cost(request) == 0)
  }

  @Test("a request fits while db size + cost stays below the quota; 0 means 2 GiB, negative none")
  func fits() {
    let quota = SpaceQuota(configured: 1000)
    #expect(quota.fits(cost: 99, dbSize: 900))
    #expect(!quota.fits(cost: 100, dbSize: 900))
    #expect(quota.fits(cost: 0, dbSize: 5000))
    #expect(SpaceQuota(configured: 0).limit == 2 << 30)
    #expect(SpaceQuota(configured: -1).fits(cost: 1 << 40, dbSize: 1 << 40))
  }
}
