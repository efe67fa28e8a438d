import EtcdProto
import Foundation
import Testing

@testable import MVCC

/// etcd's semantics written the obvious way: the whole key space after every
/// revision. The store must answer every read exactly as this does.
struct StoreModel {
  enum Op {
    case put(key: String, value: String, lease: Int64)
    /// `end` "" for the key alone, "\0" for every key from it on.
    case delete(key: String, end: String)
  }

  /// `states[r]` is the key space after revision r (`states[0]` is unused).
  var states: [[Data: Mvccpb_KeyValue]] = [[:], [:]]
  var compactRevision: Int64 = -1
  var consistentIndex: UInt64 = 0

  var current: Int64 { Int64(states.count - 1) }

  /// Applies one write transaction; returns the previous version of each key
  /// a put touched (nil if it had none) and the number of changes.
  @discardableResult
  mutating func apply(_ ops: [Op]) -> (previous: [Mvccpb_KeyValue?], changes: Int) {
    var state = states[states.count - 1]
    let revision = current + 1
    var previous: [Mvccpb_KeyValue?] = []
    var changes = 0
    for op in ops {
      switch op {
      case .put(let key, let value, let lease):
        let old = state[bytes(key)]
        var kv = keyValue(
          key, value, create: old?.createRevision ?? revision, mod: revision,
          version: (old?.version ?? 0) + 1)
        kv.lease = lease
        state[bytes(key)] = kv
        previous.append(old)
        changes += 1
      case .delete(let key, let end):
        for doomed in state.keys where Self.contains(doomed, key: key, end: end) {
          state[doomed] = nil
          changes += 1
        }
      }
    }
    if changes > 0 { states.append(state) }
    return (previous, changes)
  }

  func range(_ key: String, _ end: String, at revision: Int64) -> [Mvccpb_KeyValue] {
    states[Int(revision)].values
      .filter { Self.contains($0.key, key: key, end: end) }
      .sorted { KeyOrder.less($0.key, $1.key) }
  }

  static func contains(_ candidate: Data, key: String, end: String) -> Bool {
    if end.isEmpty { return candidate == bytes(key) }
    if KeyOrder.less(candidate, bytes(key)) { return false }
    return end == "\0" || KeyOrder.less(candidate, bytes(end))
  }
}

/// Random operations against the store and the model, with batches,
/// compactions, clean reopens and crashes (closing with a batch open), then
/// every read at every revision still readable.
@Suite struct ModelTests {
  static let keySpace = ["a", "ab", "abc", "b", "ba", "c", "d", "e"]
  static let ranges: [(String, String)] =
    keySpace.map { ($0, "") } + [("\0", "\0"), ("a", "b"), ("ab", "c"), ("b", "\0"), ("c", "a")]

  @Test(arguments: 1...30)
  func randomHistoriesReadBackExactly(seed: UInt64) throws {
    try withTemporaryDirectory { directory in
      let path = directory + "/db"
      // Closing is the crash here, and a process crash loses nothing
      // committed in any durability mode: skip the fsyncs.
      let options = testOptions(durability: .noSync)
      var random = SeededGenerator(seed: seed)
      var store = try MVCCStore(path: path, options: options)
      defer { store.close() }
      var model = StoreModel()
      var committed = model
      for step in 0..<400 {
        let roll = Int.random(in: 0..<100, using: &random)
        switch roll {
        case 0..<35:
          let op = randomPut(&random)
          let result = try store.put(bytes(op.key), value: bytes(op.value), lease: op.lease)
          let expected = model.apply([.put(key: op.key, value: op.value, lease: op.lease)])
          #expect(result.value == expected.previous[0], "seed \(seed) step \(step)")
          #expect(result.revision == model.current)
        case 35..<50:
          let (key, end) = randomRange(&random)
          let result = try store.deleteRange(bytes(key), rangeEnd: bytes(end))
          let expected = model.apply([.delete(key: key, end: end)])
          #expect(result.value.count == expected.changes, "seed \(seed) step \(step)")
          #expect(result.revision == model.current)
        case 50..<65:
          let ops = (0..<Int.random(in: 1...4, using: &random)).map { _ -> StoreModel.Op in
            if Bool.random(using: &random) {
              let op = randomPut(&random)
              return .put(key: op.key, value: op.value, lease: op.lease)
            }
            let (key, end) = randomRange(&random)
            return .delete(key: key, end: end)
          }
          let result = try store.write { txn throws(MVCCError) in
            for op in ops {
              switch op {
              case .put(let key, let value, let lease):
                try txn.put(bytes(key), value: bytes(value), lease: lease)
              case .delete(let key, let end):
                try txn.deleteRange(bytes(key), rangeEnd: bytes(end))
              }
            }
          }
          let expected = model.apply(ops)
          #expect(result.events.count == expected.changes, "seed \(seed) step \(step)")
          #expect(result.revision == model.current)
        case 65..<72:
          guard model.current > model.compactRevision else { break }
          let revision = Int64.random(
            in: max(model.compactRevision + 1, 1)...model.current, using: &random)
          try store.compact(revision)
          model.compactRevision = revision
          for _ in 0..<Int.random(in: 0...2, using: &random) {
            try store.compactStep(maxRows: Int.random(in: 1...6, using: &random))
          }
        case 72..<77:
          try store.compactStep(maxRows: Int.random(in: 1...6, using: &random))
        case 77..<85:
          if store.isBatchOpen { try store.commitBatch() } else { try store.beginBatch() }
        case 85..<89:
          try store.setConsistentIndex(UInt64(step))
          model.consistentIndex = UInt64(step)
        case 89..<95:
          try checkReads(store, model, seed: seed, sample: &random)
        case 95..<98:
          if store.isBatchOpen { try store.commitBatch() }
          let index = store.index
          let hash = try store.hashKV()
          store.close()
          store = try MVCCStore(path: path, options: options)
          #expect(store.index == index, "seed \(seed) step \(step): rebuilt index differs")
          #expect(try store.hashKV() == hash, "seed \(seed) step \(step)")
          committed = model
          try checkState(store, model, seed: seed)
        default:
          // A crash: what the open batch held is lost, the rest is not.
          store.close()
          store = try MVCCStore(path: path, options: options)
          model = committed
          try checkState(store, model, seed: seed)
        }
        if !store.isBatchOpen { committed = model }
      }
      try checkState(store, model, seed: seed)
    }
  }

  func randomPut(_ random: inout SeededGenerator) -> (key: String, value: String, lease: Int64) {
    (
      Self.keySpace.randomElement(using: &random)!, "v\(Int.random(in: 0..<1000, using: &random))",
      Int64.random(in: 0...2, using: &random)
    )
  }

  func randomRange(_ random: inout SeededGenerator) -> (String, String) {
    Self.ranges.randomElement(using: &random)!
  }

  /// Revisions, compaction and consistent index as the model has them, and
  /// every read at every readable revision.
  func checkState(_ store: MVCCStore, _ model: StoreModel, seed: UInt64) throws {
    #expect(store.currentRevision == model.current, "seed \(seed)")
    #expect(store.compactRevision == model.compactRevision, "seed \(seed)")
    #expect(store.consistentIndex == model.consistentIndex, "seed \(seed)")
    let first = max(model.compactRevision, 1)
    for revision in first...model.current {
      for (key, end) in Self.ranges { try checkRange(store, model, key, end, revision, seed: seed) }
    }
    expectError(.futureRevision) { _ = try store.range(bytes("a"), revision: model.current + 1) }
    if model.compactRevision > 1 {
      expectError(.compacted) {
        _ = try store.range(bytes("a"), revision: model.compactRevision - 1)
      }
    }
  }

  /// A few reads at random readable revisions.
  func checkReads(
    _ store: MVCCStore, _ model: StoreModel, seed: UInt64, sample random: inout SeededGenerator
  )
    throws
  {
    for _ in 0..<5 {
      let revision = Int64.random(in: max(model.compactRevision, 1)...model.current, using: &random)
      let (key, end) = randomRange(&random)
      try checkRange(store, model, key, end, revision, seed: seed)
    }
  }

  func checkRange(
    _ store: MVCCStore, _ model: StoreModel, _ key: String, _ end: String, _ revision: Int64,
    seed: UInt64
  ) throws {
    let expected = model.range(key, end, at: revision)
    let found = try store.range(bytes(key), rangeEnd: bytes(end), revision: revision)
    #expect(found.kvs == expected, "seed \(seed): [\(key), \(end)) at \(revision)")
    #expect(found.count == expected.count)
    let limited = try store.range(bytes(key), rangeEnd: bytes(end), revision: revision, limit: 1)
    #expect(limited.kvs == Array(expected.prefix(1)) && limited.count == expected.count)
  }
}
