import EtcdProto
import Foundation
import Testing

@testable import MVCC

@Suite struct HistoryTests {
  @Test func changesAreTheWrittenEventsWithoutPreviousValues() throws {
    try withStore { store, _ in
      var written: [Mvccpb_Event] = []
      written += try store.put(bytes("a"), value: bytes("1")).events
      written += try store.put(bytes("b"), value: bytes("2")).events
      written += try store.write { txn throws(MVCCError) in
        try txn.put(bytes("a"), value: bytes("3"))
        try txn.deleteRange(bytes("b"))
        try txn.put(bytes("c"), value: bytes("4"))
      }.events
      written += try store.deleteRange(bytes("a"), rangeEnd: bytes("\0")).events
      for index in written.indices { written[index].clearPrevKv() }

      #expect(try store.changes(from: 1) == written)
      #expect(try store.changes(from: 4, through: 4) == Array(written[2..<5]))
      #expect(try store.changes(from: 5).map(\.type) == [.delete, .delete])
      #expect(try store.changes(from: 6).isEmpty)
    }
  }

  @Test func changesBelowTheCompactedRevisionAreGone() throws {
    try withStore { store, _ in
      try store.put(bytes("a"), value: bytes("1"))
      try store.put(bytes("a"), value: bytes("2"))
      try store.compact(3)
      expectError(.compacted) { _ = try store.changes(from: 2) }
      #expect(try store.changes(from: 3).map(\.kv.modRevision) == [3])
    }
  }
}
