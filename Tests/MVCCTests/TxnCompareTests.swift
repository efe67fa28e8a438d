import EtcdProto
import Foundation
import Testing

@testable import MVCC

@Suite struct TxnCompareTests {
  typealias Target = Etcdserverpb_Compare.CompareTarget
  typealias Operator = Etcdserverpb_Compare.CompareResult

  func compare(
    _ target: Target, _ result: Operator, key: String = "k", rangeEnd: String = "",
    _ union: Etcdserverpb_Compare.OneOf_TargetUnion
  ) -> Etcdserverpb_Compare {
    var compare = Etcdserverpb_Compare()
    compare.target = target
    compare.result = result
    compare.key = bytes(key)
    compare.rangeEnd = bytes(rangeEnd)
    compare.targetUnion = union
    return compare
  }

  /// Which operators hold when the stored value sorts below, equal to, and
  /// above the compared one.
  static let truth: [(Operator, below: Bool, equal: Bool, above: Bool)] = [
    (.equal, false, true, false),
    (.notEqual, true, false, true),
    (.greater, false, false, true),
    (.less, true, false, false),
  ]

  @Test func truthTableForEveryTarget() throws {
    try withStore { store, _ in
      try store.put(bytes("k"), value: bytes("m"), lease: 5)  // 2
      try store.put(bytes("k"), value: bytes("m"), lease: 5)  // 3: version 2, create 2, mod 3
      let stored: [(Target, (Int64) -> Etcdserverpb_Compare.OneOf_TargetUnion, Int64)] = [
        (.version, { .version($0) }, 2),
        (.create, { .createRevision($0) }, 2),
        (.mod, { .modRevision($0) }, 3),
        (.lease, { .lease($0) }, 5),
      ]
      for (op, below, equal, above) in Self.truth {
        for (target, make, actual) in stored {
          #expect(
            try store.compare([compare(target, op, make(actual + 1))]) == below, "\(target) \(op)")
          #expect(
            try store.compare([compare(target, op, make(actual))]) == equal, "\(target) \(op)")
          #expect(
            try store.compare([compare(target, op, make(actual - 1))]) == above, "\(target) \(op)")
        }
        #expect(
          try store.compare([compare(.value, op, .value(bytes("n")))]) == below, "value \(op)")
        #expect(
          try store.compare([compare(.value, op, .value(bytes("m")))]) == equal, "value \(op)")
        #expect(
          try store.compare([compare(.value, op, .value(bytes("l")))]) == above, "value \(op)")
      }
    }
  }

  @Test func missingKeyComparesAsZerosButFailsEveryValueCompare() throws {
    try withStore { store, _ throws in
      for (op, _, equal, above) in Self.truth {
        // A missing key has version 0: so it equals 0 and is below 1.
        #expect(try store.compare([compare(.version, op, .version(0))]) == equal)
        #expect(try store.compare([compare(.create, op, .createRevision(0))]) == equal)
        #expect(try store.compare([compare(.mod, op, .modRevision(0))]) == equal)
        #expect(try store.compare([compare(.lease, op, .lease(0))]) == equal)
        #expect(try store.compare([compare(.version, op, .version(-1))]) == above)
        #expect(try store.compare([compare(.value, op, .value(Data()))]) == false)
      }
    }
  }

  @Test func rangeComparesNeedEveryKey() throws {
    try withStore { store, _ in
      try store.put(bytes("a1"), value: bytes("x"))
      try store.put(bytes("a2"), value: bytes("x"))
      try store.put(bytes("a2"), value: bytes("y"))
      #expect(
        try store.compare([compare(.version, .greater, key: "a", rangeEnd: "b", .version(0))]))
      #expect(try !store.compare([compare(.version, .equal, key: "a", rangeEnd: "b", .version(1))]))
      #expect(
        try !store.compare([compare(.value, .equal, key: "a", rangeEnd: "b", .value(bytes("x")))]))
      #expect(
        try store.compare([compare(.value, .equal, key: "a1", rangeEnd: "a2", .value(bytes("x")))]))
      // "\0" as range end: every key from the key on.
      #expect(try store.compare([compare(.mod, .less, key: "a", rangeEnd: "\0", .modRevision(5))]))
      // An empty range compares as one missing key.
      #expect(try store.compare([compare(.version, .equal, key: "x", rangeEnd: "z", .version(0))]))
      #expect(
        try !store.compare([compare(.value, .notEqual, key: "x", rangeEnd: "z", .value(bytes("q")))]
        ))
    }
  }

  @Test func allComparesMustHoldAndUnionOfAnotherKindCountsAsZero() throws {
    try withStore { store, _ in
      try store.put(bytes("k"), value: bytes("v"))
      let holds = compare(.version, .equal, .version(1))
      let fails = compare(.version, .equal, .version(2))
      #expect(try store.compare([holds, holds]))
      #expect(try !store.compare([holds, fails]))
      #expect(try store.compare([]))
      // A VERSION compare carrying a mod revision compares against 0.
      #expect(try store.compare([compare(.version, .greater, .modRevision(100))]))
      #expect(try store.compare([compare(.value, .greater, .version(1))]))
    }
  }

  @Test func comparesInsideAWriteSeeItsChanges() throws {
    try withStore { store, _ in
      let result = try store.write { txn throws(MVCCError) in
        let before = try txn.compare([compare(.version, .equal, .version(0))])
        try txn.put(bytes("k"), value: bytes("v"))
        let after = try txn.compare([compare(.version, .equal, .version(1))])
        return before && after
      }
      #expect(result.value)
    }
  }
}
