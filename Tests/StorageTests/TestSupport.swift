import EtcdProto
import Foundation
import Testing

@testable import Storage

/// A fresh directory under /tmp, removed when `body` returns.
func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
  let path = "/tmp/swetcd-storage-tests-" + UUID().uuidString
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(atPath: path) }
  return try body(path)
}

/// An entry whose data is `size` non-zero bytes derived from the index and
/// term, so a replayed entry can only compare equal to the one written.
func makeEntry(_ index: UInt64, term: UInt64 = 1, size: Int = 24) -> Raftpb_Entry {
  var entry = Raftpb_Entry()
  entry.index = index
  entry.term = term
  entry.data = Data(
    (0..<size).map { UInt8(truncatingIfNeeded: Int(index) &* 31 &+ Int(term) &* 7 &+ $0) | 1 })
  return entry
}

func makeHardState(term: UInt64, vote: UInt64 = 1, commit: UInt64) -> Raftpb_HardState {
  var state = Raftpb_HardState()
  state.term = term
  state.vote = vote
  state.commit = commit
  return state
}

/// One record the tests saved, in save order, for modelling replay.
enum SavedRecord {
  case entry(Raftpb_Entry)
  case hardState(Raftpb_HardState)

  func save(to wal: WAL) throws {
    switch self {
    case .entry(let entry): try wal.save(hardState: nil, entries: [entry])
    case .hardState(let state): try wal.save(hardState: state, entries: [])
    }
  }
}

/// What replaying `records` must give: the last hard state, and the entries
/// with every overwritten suffix replaced.
func expectedReplay(_ records: some Sequence<SavedRecord>) -> (
  entries: [Raftpb_Entry], hardState: Raftpb_HardState
) {
  var entries: [Raftpb_Entry] = []
  var hardState = Raftpb_HardState()
  for record in records {
    switch record {
    case .entry(let entry):
      entries.removeAll { $0.index >= entry.index }
      entries.append(entry)
    case .hardState(let state):
      hardState = state
    }
  }
  return (entries, hardState)
}

/// Segment file names in `directory`, oldest first.
func segmentFiles(_ directory: String) throws -> [String] {
  try FileManager.default.contentsOfDirectory(atPath: directory)
    .filter { $0.hasSuffix(".wal") }
    .sorted()
}

func readBytes(_ path: String) throws -> [UInt8] {
  [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// A plain write: Foundation's `Data.write` leaves a scratch directory in
/// /tmp behind on every call on Linux, thousands per run.
func writeBytes(_ bytes: some Collection<UInt8>, to path: String) throws {
  guard let file = fopen(path, "wb") else { throw CocoaError(.fileWriteUnknown) }
  defer { fclose(file) }
  let array = Array(bytes)
  guard fwrite(array, 1, array.count, file) == array.count else {
    throw CocoaError(.fileWriteUnknown)
  }
}

/// The verified records of a segment file, read the way `open` reads them.
func scanSegment(_ bytes: [UInt8]) -> WALSegmentScan {
  bytes.withUnsafeBytes { WALSegmentScan($0, previousCRC: nil) }
}

/// Runs `body` and checks it throws `.poisoned`.
func expectPoisoned(
  _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
) {
  do {
    try body()
    Issue.record("expected .poisoned, nothing was thrown", sourceLocation: sourceLocation)
  } catch {
    guard case .poisoned = error as? StorageError else {
      Issue.record("expected .poisoned, got \(error)", sourceLocation: sourceLocation)
      return
    }
  }
}
