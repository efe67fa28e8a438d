import EtcdProto
import Foundation
import Testing

@testable import MVCC

/// A fresh directory under /tmp, removed when `body` returns.
func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
  let path = "/tmp/swetcd-mvcc-tests-" + UUID().uuidString
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(atPath: path) }
  return try body(path)
}

/// Small maps, so that tests also exercise map growth.
func testOptions(durability: LMDBDurability = .deferMetaSync) -> MVCCStore.Options {
  var options = MVCCStore.Options()
  options.initialMapSize = 1 << 20
  options.minimumFreeSpace = 1 << 20
  options.durability = durability
  return options
}

/// A store in a fresh directory, closed when `body` returns; `body` also
/// gets the data file's path for reopening.
func withStore<T>(_ body: (MVCCStore, String) throws -> T) throws -> T {
  try withTemporaryDirectory { directory in
    let path = directory + "/db"
    let store = try MVCCStore(path: path, options: testOptions())
    defer { store.close() }
    return try body(store, path)
  }
}

func bytes(_ string: String) -> Data { Data(string.utf8) }

func keyValue(
  _ key: String, _ value: String, create: Int64, mod: Int64, version: Int64, lease: Int64 = 0
) -> Mvccpb_KeyValue {
  var kv = Mvccpb_KeyValue()
  kv.key = bytes(key)
  kv.value = bytes(value)
  kv.createRevision = create
  kv.modRevision = mod
  kv.version = version
  kv.lease = lease
  return kv
}

/// The keys of a range result as strings, for short expectations.
func keys(_ result: RangeResult) -> [String] {
  result.kvs.map { String(decoding: $0.key, as: UTF8.self) }
}

/// Runs `body` and checks it throws exactly `expected`.
func expectError(
  _ expected: MVCCError, sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () throws -> Void
) {
  do {
    try body()
    Issue.record("expected \(expected), nothing was thrown", sourceLocation: sourceLocation)
  } catch {
    #expect(error as? MVCCError == expected, sourceLocation: sourceLocation)
  }
}

/// SplitMix64: a small seeded generator, so a failing seed replays.
struct SeededGenerator: RandomNumberGenerator {
  var state: UInt64

  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var mixed = state
    mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
    mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
    return mixed ^ (mixed >> 31)
  }
}
