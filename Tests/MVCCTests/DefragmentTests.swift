import Foundation
import Testing

@testable import MVCC

@Suite struct DefragmentTests {
  @Test func defragmentKeepsContentsAndShrinksTheFile() throws {
    try withStore { store, path in
      let value = Data(repeating: 0xA5, count: 2000)
      for batch in 0..<20 {
        try store.beginBatch()
        for key in 0..<50 { try store.put(bytes("k\(key)"), value: value + bytes("\(batch)")) }
        try store.commitBatch()
      }
      try store.compact(store.currentRevision)
      while try !store.compactStep() {}
      let contents = try store.range(Data([0]), rangeEnd: Data([0]))
      let hash = try store.hashKV()
      let sizeBefore = try store.dbSize()
      let inUse = try store.dbSizeInUse()
      #expect(inUse < sizeBefore)

      let copy = try store.beginDefragment()
      // Reads go on while the copy is written.
      #expect(try store.range(bytes("k0")).kvs.count == 1)
      try copy.write()
      try store.finishDefragment(copy)

      let sizeAfter = try store.dbSize()
      #expect(sizeAfter < sizeBefore / 2)
      #expect(sizeAfter <= inUse)
      #expect(try store.range(Data([0]), rangeEnd: Data([0])) == contents)
      #expect(try store.hashKV() == hash)
      #expect(!FileManager.default.fileExists(atPath: path + ".defrag"))
      // Still writable, and a reopen sees the same store.
      try store.put(bytes("after"), value: bytes("defrag"))
      store.close()
      let reopened = try MVCCStore(path: path, options: testOptions())
      defer { reopened.close() }
      #expect(try reopened.range(bytes("after")).kvs.first?.modRevision == 1002)
      #expect(
        try reopened.range(bytes("k0"), revision: 1001) == contents.filteredTo("k0", revision: 1002)
      )
    }
  }

  @Test func aCommitAfterTheCopyBeganMakesTheCopyUseless() throws {
    try withStore { store, path in
      try store.put(bytes("a"), value: bytes("1"))
      let copy = try store.beginDefragment()
      try copy.write()
      try store.put(bytes("b"), value: bytes("2"))
      expectError(.changedDuringDefragment) { try store.finishDefragment(copy) }
      #expect(!FileManager.default.fileExists(atPath: path + ".defrag"))
      #expect(try store.range(bytes("b")).kvs.count == 1)
    }
  }

  @Test func openRemovesAnAbandonedDefragmentCopy() throws {
    try withTemporaryDirectory { directory in
      let path = directory + "/db"
      #expect(FileManager.default.createFile(atPath: path + ".defrag", contents: Data([1, 2, 3])))
      let store = try MVCCStore(path: path, options: testOptions())
      store.close()
      #expect(!FileManager.default.fileExists(atPath: path + ".defrag"))
    }
  }
}

extension RangeResult {
  /// This result cut down to one key, with another header revision.
  func filteredTo(_ key: String, revision: Int64) -> RangeResult {
    let kvs = self.kvs.filter { $0.key == bytes(key) }
    return RangeResult(kvs: kvs, count: kvs.count, revision: revision)
  }
}
