import EtcdProto

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// What a range read found.
public struct RangeResult: Equatable, Sendable {
  /// The keys' versions at the revision read, in key order; at most `limit`
  /// of them, none for a count-only read.
  public var kvs: [Mvccpb_KeyValue]
  /// How many keys the range holds at that revision, whatever the limit.
  public var count: Int
  /// The store's revision when the read ran (the response header's revision),
  /// not the revision read at.
  public var revision: Int64
}

extension MVCCStore {
  /// Reads `[key, rangeEnd)` as of `revision`, as etcd's Range does.
  ///
  /// - Parameters:
  ///   - rangeEnd: empty for `key` alone; `"\0"` for every key >= `key`;
  ///     otherwise the exclusive upper bound (a bound <= `key` finds nothing).
  ///   - revision: 0 or less for the current revision.
  ///   - limit: at most this many kvs (0 or less: no limit); `count` still
  ///     counts them all.
  ///   - countOnly: return only `count`.
  /// - Throws: `.futureRevision` above the current revision, `.compacted`
  ///   below the compacted one; `.closed`, `.poisoned`, `.lmdb`, `.corrupt`.
  public func range(
    _ key: Data, rangeEnd: Data = Data(), revision: Int64 = 0, limit: Int = 0,
    countOnly: Bool = false
  ) throws(MVCCError) -> RangeResult {
    try checkUsable()
    return try withReadView { txn throws(MVCCError) in
      try rangeKeys(
        txn, key, rangeEnd, revision: revision, current: currentRevision, limit: limit,
        countOnly: countOnly)
    }
  }

  /// Whether every compare holds against the current state, as etcd's
  /// applyCompares evaluates a Txn's guard (see `TxnCompare`).
  public func compare(_ compares: [Etcdserverpb_Compare]) throws(MVCCError) -> Bool {
    try checkUsable()
    return try withReadView { txn throws(MVCCError) in
      for compare in compares where try !evaluate(compare, txn, current: currentRevision) {
        return false
      }
      return true
    }
  }

  /// Runs `body` over the state reads on the owner's thread see: the open
  /// batch, or else a read transaction on the last commit.
  func withReadView<Result>(_ body: (LMDBTransaction) throws(MVCCError) -> Result) throws(MVCCError)
    -> Result
  {
    if let batch { return try body(batch) }
    return try environment.read(body)
  }

  /// The range read shared by the store and write transactions; `current`
  /// is the revision the reader stands at.
  func rangeKeys(
    _ txn: LMDBTransaction, _ key: Data, _ rangeEnd: Data, revision: Int64, current: Int64,
    limit: Int, countOnly: Bool
  ) throws(MVCCError) -> RangeResult {
    if revision > current { throw .futureRevision }
    let at = revision <= 0 ? current : revision
    // Reading at the compacted revision itself is allowed: compaction keeps
    // each key's version as of that revision.
    if at < compactRevision { throw .compacted }
    var found: [Revision] = []
    try visitLive(key, rangeEnd, at: at) { revision in
      found.append(revision)
      return true
    }
    guard !countOnly else { return RangeResult(kvs: [], count: found.count, revision: current) }
    let wanted = limit > 0 ? min(limit, found.count) : found.count
    var kvs: [Mvccpb_KeyValue] = []
    kvs.reserveCapacity(wanted)
    for revision in found.prefix(wanted) { kvs.append(try readRow(txn, revision)) }
    return RangeResult(kvs: kvs, count: found.count, revision: current)
  }

  /// Calls `body` with the revision of each key in the range that exists at
  /// `at`, in key order, until it returns false.
  func visitLive(
    _ key: Data, _ rangeEnd: Data, at: Int64, _ body: (Revision) throws(MVCCError) -> Bool
  ) throws(MVCCError) {
    if rangeEnd.isEmpty {
      if let live = index.history(key)?.get(at: at) { _ = try body(live.modified) }
      return
    }
    let end: Data? = rangeEnd == Self.fromKey ? nil : rangeEnd
    try index.visit(from: key, to: end) { _, history throws(MVCCError) in
      guard let live = history.get(at: at) else { return true }
      return try body(live.modified)
    }
  }

  func evaluate(_ compare: Etcdserverpb_Compare, _ txn: LMDBTransaction, current: Int64)
    throws(MVCCError) -> Bool
  {
    let found = try rangeKeys(
      txn, compare.key, compare.rangeEnd, revision: 0, current: current, limit: 0,
      countOnly: false)
    return TxnCompare.holds(compare, over: found.kvs)
  }

  /// The range end meaning "every key from `key` on".
  static let fromKey = Data([0])
}
