/// The surviving revisions of one key, in generations (etcd's keyIndex).
///
/// A generation is one life of the key: it starts with the put that creates
/// the key and, once finished, ends with the revision of the delete (the
/// tombstone). `put 2, put 3, delete 4, put 5` gives
/// `[{created 2: 2, 3, 4(t)}, {created 5: 5}]`; a delete at 6 would finish the
/// second and start an empty third one, which is how a deleted key looks.
struct KeyHistory: Equatable, Sendable {
  struct Generation: Equatable, Sendable {
    /// Main revision of the put that created the key in this life: the
    /// create_revision of every version in it.
    var created: Int64
    /// Changes since creation, including compacted and tombstone ones: the
    /// version of the newest revision in `revisions`.
    var version: Int64
    /// Ascending. Compaction drops a prefix, never the newest revision.
    var revisions: [Revision]
  }

  /// Oldest first. Invariant: every generation but the last is non-empty and
  /// ends with its tombstone; the last is empty exactly when the key is
  /// deleted (or when the key has no revision at all, see `isEmpty`).
  private(set) var generations: [Generation]

  /// A key without revisions, about to receive its first put.
  init() {
    generations = [Generation(created: 0, version: 0, revisions: [])]
  }

  /// A key rebuilt from the oldest row the key bucket still holds for it,
  /// whose value carries the create revision and version that compaction
  /// removed from the rows themselves.
  init(restoring revision: Revision, created: Int64, version: Int64) {
    generations = [Generation(created: created, version: version, revisions: [revision])]
  }

  /// No revision left: the index drops the key.
  var isEmpty: Bool { generations.count == 1 && generations[0].revisions.isEmpty }

  /// The key exists at the newest revision.
  var isLive: Bool { !generations[generations.count - 1].revisions.isEmpty }

  /// The newest revision, tombstone or not.
  var latest: Revision? {
    generations.last(where: { !$0.revisions.isEmpty })?.revisions.last
  }

  /// Records a put at `revision`, starting a new generation if the key is
  /// deleted or new.
  mutating func put(_ revision: Revision) {
    if let latest {
      precondition(revision > latest, "put at \(revision) is not after \(latest)")
    }
    let last = generations.count - 1
    if generations[last].revisions.isEmpty { generations[last].created = revision.main }
    generations[last].revisions.append(revision)
    generations[last].version += 1
  }

  /// Records a delete at `revision`: the tombstone ends the current
  /// generation. The caller deletes only live keys.
  mutating func tombstone(_ revision: Revision) {
    precondition(isLive, "tombstone at \(revision) for a key that is not live")
    put(revision)
    generations.append(Generation(created: 0, version: 0, revisions: []))
  }

  /// The version of the key visible at main revision `main`, or nil if the
  /// key did not exist then (not created yet, or deleted at or before `main`).
  func get(at main: Int64) -> (modified: Revision, created: Int64, version: Int64)? {
    let last = generations.count - 1
    for index in stride(from: last, through: 0, by: -1) {
      let generation = generations[index]
      guard let first = generation.revisions.first else { continue }
      // A finished generation whose tombstone is at or before `main` means
      // the key was deleted by then; older generations are older lives.
      if index != last && generation.revisions[generation.revisions.count - 1].main <= main {
        return nil
      }
      guard first.main <= main else { continue }
      let position = Self.lastPosition(atOrBefore: main, in: generation.revisions)
      let newer = Int64(generation.revisions.count - 1 - position)
      return (generation.revisions[position], generation.created, generation.version - newer)
    }
    return nil
  }

  /// Compaction at `main`: drops the generations that ended at or before it
  /// and, in the first generation still alive after it, every revision older
  /// than the newest one at or before `main`, which goes into `keep` (its row
  /// must stay in the key bucket). The tombstone of a generation never goes
  /// into `keep`: the generation chosen either is the last one (no
  /// tombstone) or has its tombstone after `main`, so the kept revision
  /// precedes it. Afterwards `isEmpty` tells whether the key is gone.
  mutating func compact(at main: Int64, keep: inout Set<Revision>) {
    let index = firstGenerationAlive(after: main)
    generations.removeFirst(index)
    let revisions = generations[0].revisions
    guard let first = revisions.first, first.main <= main else { return }
    let position = Self.lastPosition(atOrBefore: main, in: revisions)
    keep.insert(revisions[position])
    generations[0].revisions.removeFirst(position)
  }

  /// What `compact(at:keep:)` would insert into `keep`, without compacting.
  func keep(at main: Int64, into keep: inout Set<Revision>) {
    let revisions = generations[firstGenerationAlive(after: main)].revisions
    guard let first = revisions.first, first.main <= main else { return }
    keep.insert(revisions[Self.lastPosition(atOrBefore: main, in: revisions)])
  }

  /// The last generation, or the first whose tombstone is after `main`.
  private func firstGenerationAlive(after main: Int64) -> Int {
    var index = 0
    while index < generations.count - 1 && generations[index].revisions.last!.main <= main {
      index += 1
    }
    return index
  }

  /// Position of the newest revision with main <= `main`; the caller knows
  /// the first one qualifies, so the answer is in `0..<revisions.count`.
  private static func lastPosition(atOrBefore main: Int64, in revisions: [Revision]) -> Int {
    var low = 0
    var high = revisions.count
    // Invariant: revisions[..<low] have main <= `main`, revisions[high...] do not.
    while low < high {
      let middle = low + (high - low) / 2
      if revisions[middle].main <= main { low = middle + 1 } else { high = middle }
    }
    return low - 1
  }
}
