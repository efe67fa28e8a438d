import Foundation
import Testing

@testable import MVCC

/// Copying the whole file out, checksumming it, and installing a copy.
@Suite struct SnapshotTests {
  /// A compacted copy of `store`'s committed state, read back.
  func copy(of store: MVCCStore, in directory: String) throws -> Data {
    let path = directory + "/copy"
    let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
    defer { close(fd) }
    try store.environment.copyCompacted(toDescriptor: fd, name: path)
    return try Data(contentsOf: URL(fileURLWithPath: path))
  }

  @Test func replacingWithACopyGivesTheCopiedStateAndIndex() throws {
    try withTemporaryDirectory { directory in
      let source = try MVCCStore(path: directory + "/source", options: testOptions())
      defer { source.close() }
      try source.beginBatch()
      for key in 0..<100 { try source.put(bytes("k\(key)"), value: bytes("v\(key)")) }
      try source.setConsistentIndex(42)
      // Uncommitted rows are not in a copy: it holds committed state only.
      try source.commitBatch()
      try source.beginBatch()
      try source.put(bytes("uncommitted"), value: bytes("x"))
      let copied = try copy(of: source, in: directory)
      try source.commitBatch()

      let targetPath = directory + "/target"
      let target = try MVCCStore(path: targetPath, options: testOptions())
      try target.put(bytes("old"), value: bytes("gone"))
      try target.replace(with: copied)
      #expect(throws: MVCCError.closed) { try target.range(bytes("k1")) }
      #expect(!FileManager.default.fileExists(atPath: targetPath + ".incoming"))

      let installed = try MVCCStore(path: targetPath, options: testOptions())
      defer { installed.close() }
      #expect(installed.consistentIndex == 42)
      #expect(installed.currentRevision == 101)
      #expect(try installed.range(bytes("old")).kvs.isEmpty)
      #expect(try installed.range(bytes("uncommitted")).kvs.isEmpty)
      #expect(try installed.range(bytes("k7")).kvs.first?.value == bytes("v7"))
      #expect(try installed.hashKV().hash == source.hashKV(revision: 101).hash)
    }
  }

  @Test func aLeftoverIncomingCopyIsRemovedAtOpen() throws {
    try withTemporaryDirectory { directory in
      let path = directory + "/db"
      FileManager.default.createFile(atPath: path + ".incoming", contents: Data([1, 2, 3]))
      let store = try MVCCStore(path: path, options: testOptions())
      defer { store.close() }
      #expect(!FileManager.default.fileExists(atPath: path + ".incoming"))
    }
  }

  @Test func hashFollowsTheRowsButNotTheConsistentIndex() throws {
    try withTemporaryDirectory { directory in
      func store(_ name: String, index: UInt64, values: [String]) throws -> UInt32 {
        let store = try MVCCStore(path: directory + "/" + name, options: testOptions())
        defer { store.close() }
        try store.beginBatch()
        for (key, value) in values.enumerated() {
          try store.put(bytes("k\(key)"), value: bytes(value))
        }
        try store.setConsistentIndex(index)
        try store.commitBatch()
        return try store.hash()
      }
      let a = try store("a", index: 10, values: ["x", "y"])
      #expect(try store("b", index: 99, values: ["x", "y"]) == a)
      #expect(try store("c", index: 10, values: ["x", "z"]) != a)
      #expect(try store("d", index: 10, values: ["x"]) != a)
    }
  }
}
