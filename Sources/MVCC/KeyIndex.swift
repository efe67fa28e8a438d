#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The in-memory index: every key with its `KeyHistory`, in `KeyOrder`
/// (etcd's treeIndex). Rebuilt from the key bucket at open.
///
/// # Structure and cost
/// A sorted array of chunks, each holding up to `chunkCapacity` sorted keys:
/// a B+tree cut at height two. With n keys, a lookup is two binary searches
/// (O(log n)); an insert shifts at most one chunk, plus the chunk array
/// (about n / 256 entries) when the chunk splits; a range walks chunks in
/// order. One flat sorted array would shift O(n) entries per new key, several
/// milliseconds at a million keys; a real B-tree would bound the chunk array
/// too, which starts to matter only around 10^7 keys (40,000 chunks, tens of
/// microseconds per split). Compaction rebuilds the chunks in one pass.
struct KeyIndex: Sendable {
  static let chunkCapacity = 512

  private struct Chunk: Sendable {
    var keys: [Data]
    var histories: [KeyHistory]
  }

  /// Invariant: no chunk is empty; keys ascend strictly within and across chunks.
  private var chunks: [Chunk] = []
  /// Keys in the index, live or deleted-but-not-compacted.
  private(set) var count = 0

  init() {}

  /// Builds the index from keys already in ascending order, half-filling
  /// chunks so the first inserts do not split them.
  init(sortedKeys: [Data], histories: [KeyHistory]) {
    precondition(
      sortedKeys.count == histories.count, "\(sortedKeys.count) keys, \(histories.count) histories")
    let step = Self.chunkCapacity / 2
    for start in stride(from: 0, to: sortedKeys.count, by: step) {
      let end = min(start + step, sortedKeys.count)
      chunks.append(
        Chunk(keys: Array(sortedKeys[start..<end]), histories: Array(histories[start..<end])))
    }
    count = sortedKeys.count
  }

  func history(_ key: Data) -> KeyHistory? {
    let place = locate(key)
    return place.found ? chunks[place.chunk].histories[place.slot] : nil
  }

  /// Records a put of `key` at `revision`, adding the key if it is new.
  mutating func put(_ key: Data, at revision: Revision) {
    let place = locate(key)
    if place.found {
      chunks[place.chunk].histories[place.slot].put(revision)
      return
    }
    var history = KeyHistory()
    history.put(revision)
    insert(key, history, at: place)
  }

  /// Records a delete of the live key `key` at `revision`.
  mutating func tombstone(_ key: Data, at revision: Revision) {
    let place = locate(key)
    precondition(place.found, "tombstone at \(revision) for a key not in the index")
    chunks[place.chunk].histories[place.slot].tombstone(revision)
  }

  /// Calls `body` for each key in `[start, end)` in order (to the last key if
  /// `end` is nil) until it returns false.
  func visit(from start: Data, to end: Data?, _ body: (Data, KeyHistory) throws(MVCCError) -> Bool)
    throws(MVCCError)
  {
    guard !chunks.isEmpty else { return }
    let place = locate(start)
    var slot = place.slot
    for chunkIndex in place.chunk..<chunks.count {
      let chunk = chunks[chunkIndex]
      while slot < chunk.keys.count {
        let key = chunk.keys[slot]
        if let end, !KeyOrder.less(key, end) { return }
        if try !body(key, chunk.histories[slot]) { return }
        slot += 1
      }
      slot = 0
    }
  }

  /// Compacts every key at `main` (see `KeyHistory.compact`), drops the
  /// keys left without revisions and returns the revisions whose rows must
  /// stay in the key bucket.
  mutating func compact(at main: Int64) -> Set<Revision> {
    var keep = Set<Revision>()
    var rebuilt: [Chunk] = []
    let target = Self.chunkCapacity / 2
    for chunk in chunks {
      for (key, var history) in zip(chunk.keys, chunk.histories) {
        history.compact(at: main, keep: &keep)
        if history.isEmpty { continue }
        if rebuilt.isEmpty || rebuilt[rebuilt.count - 1].keys.count >= target {
          rebuilt.append(Chunk(keys: [], histories: []))
        }
        rebuilt[rebuilt.count - 1].keys.append(key)
        rebuilt[rebuilt.count - 1].histories.append(history)
      }
    }
    chunks = rebuilt
    count = chunks.reduce(0) { $0 + $1.keys.count }
    return keep
  }

  /// What `compact(at:)` would return, without compacting.
  func keep(at main: Int64) -> Set<Revision> {
    var keep = Set<Revision>()
    for chunk in chunks {
      for history in chunk.histories { history.keep(at: main, into: &keep) }
    }
    return keep
  }

  /// Where `key` is, or where it would be inserted: the first chunk whose
  /// last key is >= `key` (the last chunk if none), and the first slot there
  /// whose key is >= `key`.
  private func locate(_ key: Data) -> (chunk: Int, slot: Int, found: Bool) {
    guard !chunks.isEmpty else { return (0, 0, false) }
    var low = 0
    var high = chunks.count
    // Invariant: chunks[..<low] end below `key`; chunks[high...] end at or above it.
    while low < high {
      let middle = low + (high - low) / 2
      if KeyOrder.less(chunks[middle].keys[chunks[middle].keys.count - 1], key) {
        low = middle + 1
      } else {
        high = middle
      }
    }
    guard low < chunks.count else {
      let last = chunks.count - 1
      return (last, chunks[last].keys.count, false)
    }
    let keys = chunks[low].keys
    var first = 0
    var past = keys.count
    while first < past {
      let middle = first + (past - first) / 2
      if KeyOrder.less(keys[middle], key) { first = middle + 1 } else { past = middle }
    }
    return (low, first, first < keys.count && KeyOrder.compare(keys[first], key) == 0)
  }

  private mutating func insert(
    _ key: Data, _ history: KeyHistory, at place: (chunk: Int, slot: Int, found: Bool)
  ) {
    count += 1
    guard !chunks.isEmpty else {
      chunks.append(Chunk(keys: [key], histories: [history]))
      return
    }
    chunks[place.chunk].keys.insert(key, at: place.slot)
    chunks[place.chunk].histories.insert(history, at: place.slot)
    guard chunks[place.chunk].keys.count > Self.chunkCapacity else { return }
    // Split in halves; both stay non-empty since the chunk holds capacity + 1 keys.
    let half = chunks[place.chunk].keys.count / 2
    let upper = Chunk(
      keys: Array(chunks[place.chunk].keys[half...]),
      histories: Array(chunks[place.chunk].histories[half...]))
    chunks[place.chunk].keys.removeSubrange(half...)
    chunks[place.chunk].histories.removeSubrange(half...)
    chunks.insert(upper, at: place.chunk + 1)
  }
}

extension KeyIndex: Equatable {
  /// Same keys with the same histories, however they are split into chunks.
  static func == (lhs: KeyIndex, rhs: KeyIndex) -> Bool {
    guard lhs.count == rhs.count else { return false }
    let left = lhs.chunks.lazy.flatMap { zip($0.keys, $0.histories) }
    let right = rhs.chunks.lazy.flatMap { zip($0.keys, $0.histories) }
    return left.elementsEqual(right) { $0.0 == $1.0 && $0.1 == $1.1 }
  }
}
