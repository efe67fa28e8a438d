import EtcdProto
import Foundation
import Testing

@testable import Storage

@Suite struct SnapshotterTests {
  private func makeSnapshot(index: UInt64, term: UInt64) -> Raftpb_Snapshot {
    var snapshot = Raftpb_Snapshot()
    snapshot.metadata.index = index
    snapshot.metadata.term = term
    snapshot.metadata.confState.voters = [1, 2, 3]
    snapshot.data = Data((0..<200).map { UInt8(truncatingIfNeeded: Int(index) &+ $0) })
    return snapshot
  }

  private func files(_ directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
  }

  @Test func emptyDirectoryHasNoSnapshot() throws {
    try withTemporaryDirectory { directory in
      let load = try Snapshotter(directory: directory + "/snap").loadNewest()
      #expect(load.snapshot == nil && load.file == nil && load.skipped.isEmpty)
    }
  }

  @Test func savesAtomicallyAndLoadsNewest() throws {
    try withTemporaryDirectory { directory in
      let snapshotter = try Snapshotter(directory: directory)
      for (index, term) in [(10, 1), (30, 2), (20, 2)] as [(UInt64, UInt64)] {
        try snapshotter.save(makeSnapshot(index: index, term: term))
      }
      #expect(
        try files(directory) == [
          "0000000000000001-000000000000000a.snap",
          "0000000000000002-0000000000000014.snap",
          "0000000000000002-000000000000001e.snap",
        ])
      let load = try snapshotter.loadNewest()
      #expect(load.snapshot == makeSnapshot(index: 30, term: 2))
      #expect(load.file == directory + "/0000000000000002-000000000000001e.snap")
      #expect(load.skipped.isEmpty)
    }
  }

  @Test func damagedNewestFallsBackToPrevious() throws {
    try withTemporaryDirectory { directory in
      let snapshotter = try Snapshotter(directory: directory)
      try snapshotter.save(makeSnapshot(index: 10, term: 1))
      try snapshotter.save(makeSnapshot(index: 20, term: 1))
      try snapshotter.save(makeSnapshot(index: 30, term: 1))
      let newest = directory + "/0000000000000001-000000000000001e.snap"
      var bytes = try readBytes(newest)
      bytes[bytes.count / 2] ^= 0x10
      try writeBytes(bytes, to: newest)
      // A truncated file and a file whose name lies about its content.
      let second = directory + "/0000000000000001-0000000000000014.snap"
      try writeBytes(try readBytes(second).dropLast(3), to: second)
      try FileManager.default.copyItem(
        atPath: directory + "/0000000000000001-000000000000000a.snap",
        toPath: directory + "/0000000000000001-0000000000000028.snap")

      let load = try snapshotter.loadNewest()
      #expect(load.snapshot == makeSnapshot(index: 10, term: 1))
      #expect(load.skipped.count == 3)
      #expect(
        load.skipped.first
          == .badSnapshotFile(
            file: directory + "/0000000000000001-0000000000000028.snap",
            reason: "content is term 1 index 10"))
      #expect(load.skipped.contains(.badSnapshotFile(file: newest, reason: "CRC mismatch")))
    }
  }

  @Test func removeOldKeepsTheNewestOrAllForZero() throws {
    try withTemporaryDirectory { directory in
      let snapshotter = try Snapshotter(directory: directory)
      for index in UInt64(1)...8 { try snapshotter.save(makeSnapshot(index: index * 100, term: 3)) }
      try snapshotter.removeOld(keeping: 0)
      #expect(try files(directory).count == 8)
      try snapshotter.removeOld(keeping: Snapshotter.defaultRetained)
      let names = try files(directory)
      #expect(names == (4...8).map { Snapshotter.fileName(term: 3, index: UInt64($0) * 100) })
      #expect(try snapshotter.loadNewest().snapshot == makeSnapshot(index: 800, term: 3))
      try snapshotter.removeOld(keeping: 1)
      #expect(try files(directory) == [Snapshotter.fileName(term: 3, index: 800)])
    }
  }

  @Test func leftoverTemporaryFilesAreRemoved() throws {
    try withTemporaryDirectory { directory in
      let stale = directory + "/0000000000000001-0000000000000005.snap.tmp"
      try writeBytes([1, 2, 3], to: stale)
      let snapshotter = try Snapshotter(directory: directory)
      #expect(try files(directory).isEmpty)
      try snapshotter.save(makeSnapshot(index: 5, term: 1))
      #expect(try files(directory) == ["0000000000000001-0000000000000005.snap"])
    }
  }
}
