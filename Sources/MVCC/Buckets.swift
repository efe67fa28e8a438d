/// The buckets of a swetcd data file, named as etcd 3.4 names its bbolt
/// buckets so that tools and operators find the same layout.
public struct MVCCBuckets: Sendable {
  /// Revision key (see `Revision.bytes`) → encoded `Mvccpb_KeyValue`.
  public let key: LMDBBucket
  /// The consistent index and the compaction revisions, under `MetaKey`s.
  public let meta: LMDBBucket
  /// Left to the server: leases, membership, alarms, auth, cluster version.
  public let lease: LMDBBucket
  public let members: LMDBBucket
  public let membersRemoved: LMDBBucket
  public let alarm: LMDBBucket
  public let auth: LMDBBucket
  public let authUsers: LMDBBucket
  public let authRoles: LMDBBucket
  public let cluster: LMDBBucket
  /// Every bucket above, by name.
  public let byName: [String: LMDBBucket]

  static let names = [
    "key", "meta", "lease", "members", "members_removed", "alarm", "auth", "authUsers",
    "authRoles", "cluster",
  ]

  /// Opens every bucket, creating the missing ones.
  init(_ environment: LMDBEnvironment) throws(MVCCError) {
    let opened = try environment.openBuckets(Self.names)
    key = opened["key"]!
    meta = opened["meta"]!
    lease = opened["lease"]!
    members = opened["members"]!
    membersRemoved = opened["members_removed"]!
    alarm = opened["alarm"]!
    auth = opened["auth"]!
    authUsers = opened["authUsers"]!
    authRoles = opened["authRoles"]!
    cluster = opened["cluster"]!
    byName = opened
  }
}

/// Keys in the meta bucket, and how their values are encoded.
enum MetaKey {
  /// 8-byte big-endian raft index of the last entry applied to the store.
  static let consistentIndex = Array("consistent_index".utf8)
  /// Revision bytes (main, sub 0) of the latest compaction requested.
  static let scheduledCompact = Array("scheduledCompactRev".utf8)
  /// Revision bytes (main, sub 0) of the latest compaction whose rows are gone.
  static let finishedCompact = Array("finishedCompactRev".utf8)
}
