import MVCC

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// etcd's leases: which exist and their granted TTLs (applied from the
/// log, the same on every member, kept in the backend's "lease" bucket),
/// and when each expires (local: only the leader's clock decides, and a new
/// leader gives every lease its full TTL again, as etcd's does).
struct Lessor {
  struct Lease: Equatable {
    var id: Int64
    /// Seconds, as granted (after the minimum is applied).
    var ttl: Int64
    /// Monotonic nanoseconds; meaningful on the leader.
    var expiry: Int64
  }

  /// The largest TTL etcd grants.
  static let maxTTL: Int64 = 9_000_000_000

  private(set) var leases: [Int64: Lease] = [:]
  /// ceil(1.5 x election timeout): a lease must outlive a leader change.
  let minTTL: Int64

  init(electionTimeoutMs: Int) {
    minTTL = Int64((electionTimeoutMs * 3 + 1999) / 2000)
  }

  /// Replaces the leases with those a backend holds: 8-byte ID, then 8-byte TTL, both
  /// big-endian, per entry.
  mutating func load(_ mvcc: MVCCStore, now: Int64) throws(MVCCError) {
    let found = try mvcc.environment.read { txn throws(MVCCError) -> [Lease] in
      var found: [Lease] = []
      try txn.forEach(mvcc.buckets.lease) { key, value throws(MVCCError) in
        guard key.count == 8, value.count == 8 else { return true }
        let id = Int64(bitPattern: key.reduce(0) { $0 << 8 | UInt64($1) })
        let ttl = Int64(bitPattern: value.reduce(0) { $0 << 8 | UInt64($1) })
        found.append(Lease(id: id, ttl: ttl, expiry: now + ttl * 1_000_000_000))
        return true
      }
      return found
    }
    leases = Dictionary(uniqueKeysWithValues: found.map { ($0.id, $0) })
  }

  func contains(_ id: Int64) -> Bool { leases[id] != nil }

  /// The live keys attached to lease `id`. The store keeps no index by
  /// lease, so this reads every key (every key is >= "\0").
  static func keys(attachedTo id: Int64, in mvcc: MVCCStore) throws(MVCCError) -> [Data] {
    try mvcc.range(Data([0]), rangeEnd: Data([0])).kvs.filter { $0.lease == id }.map(\.key)
  }

  mutating func grant(_ id: Int64, ttl: Int64, now: Int64, _ mvcc: MVCCStore) throws(V3Error)
    -> Lease
  {
    guard leases[id] == nil else {
      throw V3Error(code: .failedPrecondition, message: "etcdserver: lease already exists")
    }
    let lease = Lease(id: id, ttl: max(ttl, minTTL), expiry: now + max(ttl, minTTL) * 1_000_000_000)
    do {
      try mvcc.withWriteTransaction { txn throws(MVCCError) in
        try txn.put(mvcc.buckets.lease, Self.bytes(id), Self.bytes(lease.ttl))
      }
    } catch {
      throw V3Error(error)
    }
    leases[id] = lease
    return lease
  }

  mutating func remove(_ id: Int64, _ mvcc: MVCCStore) throws(V3Error) {
    guard leases.removeValue(forKey: id) != nil else { throw .leaseNotFound }
    do {
      _ = try mvcc.withWriteTransaction { txn throws(MVCCError) in
        try txn.delete(mvcc.buckets.lease, Self.bytes(id))
      }
    } catch {
      throw V3Error(error)
    }
  }

  /// A keepalive on the leader: the full TTL again.
  /// A keepalive: nil for a lease that is unknown or already past its
  /// expiry (its revoke is on the way; etcd answers "not found" then too,
  /// rather than bringing it back).
  mutating func renew(_ id: Int64, now: Int64) -> Int64? {
    guard let lease = leases[id], lease.expiry > now else { return nil }
    leases[id]?.expiry = now + lease.ttl * 1_000_000_000
    return lease.ttl
  }

  /// A new leader restarts every lease's clock, and, as etcd's, gives each
  /// `extend` nanoseconds more (an election timeout): its clients may need
  /// that long to find the new leader and renew.
  mutating func promote(now: Int64, extend: Int64) {
    for (id, lease) in leases { leases[id]?.expiry = now + extend + lease.ttl * 1_000_000_000 }
  }

  func expired(now: Int64) -> [Int64] {
    leases.values.filter { $0.expiry <= now }.map(\.id).sorted()
  }

  /// Whole seconds left, rounded down as etcd's are (a fresh 60 s lease
  /// has 59 left); -1 when the lease is gone.
  func remaining(_ id: Int64, now: Int64) -> Int64 {
    guard let lease = leases[id] else { return -1 }
    return max(0, (lease.expiry - now) / 1_000_000_000)
  }

  private static func bytes(_ value: Int64) -> [UInt8] {
    (0..<8).reversed().map {
      UInt8(truncatingIfNeeded: UInt64(bitPattern: value) >> (UInt64($0) * 8))
    }
  }
}
