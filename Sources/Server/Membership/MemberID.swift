/// Member and cluster IDs derived as etcd derives them, so every member of a
/// static --initial-cluster computes the same IDs, and they equal the IDs
/// etcd itself would give the same configuration.
public enum MemberID {
  /// The ID of a member: the first 8 bytes (big-endian) of the SHA-1 of its
  /// sorted peer URLs and the cluster token; a member added at run time also
  /// mixes in the Unix time it was added, so re-adding gives a new ID.
  public static func member(peerURLs: [String], clusterToken: String, addedAt: Int64? = nil)
    -> UInt64
  {
    var bytes: [UInt8] = []
    for url in peerURLs.sorted() { bytes += Array(url.utf8) }
    bytes += Array(clusterToken.utf8)
    if let addedAt { bytes += Array(String(addedAt).utf8) }
    return firstWord(Digest.sha1(bytes))
  }

  /// The cluster's ID: the SHA-1 of its sorted member IDs, 8 bytes each.
  public static func cluster(memberIDs: [UInt64]) -> UInt64 {
    var bytes: [UInt8] = []
    for id in memberIDs.sorted() {
      for shift in stride(from: 56, through: 0, by: -8) {
        bytes.append(UInt8(truncatingIfNeeded: id >> UInt64(shift)))
      }
    }
    return firstWord(Digest.sha1(bytes))
  }

  /// IDs print as etcd prints them: lower-case hex without padding.
  public static func format(_ id: UInt64) -> String {
    String(id, radix: 16)
  }

  private static func firstWord(_ digest: [UInt8]) -> UInt64 {
    digest.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
  }
}
