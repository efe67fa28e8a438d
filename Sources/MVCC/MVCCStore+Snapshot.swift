import Storage

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The whole data file as one unit: its checksum (etcd's Hash), and taking
/// in another member's copy of it (a raft snapshot's backend). Copies go
/// out through `LMDBEnvironment.copyCompacted`.
extension MVCCStore {
  static let incomingSuffix = ".incoming"

  /// etcd's Hash RPC: a CRC-32C of every bucket's committed rows, buckets in
  /// name order, each hashed as its name then every key and value; the
  /// consistent index is left out, since members apply at their own pace.
  /// Members with the same applied state agree on it; etcd's own value
  /// differs, its file holding other rows.
  public func hash() throws(MVCCError) -> UInt32 {
    try checkUsable()
    return try environment.read { txn throws(MVCCError) in
      var crc: UInt32 = 0
      for (name, bucket) in buckets.byName.sorted(by: { $0.key < $1.key }) {
        crc = CRC32C.update(crc, Array(name.utf8))
        try txn.forEach(bucket) { key, value in
          if bucket == buckets.meta && key.elementsEqual(MetaKey.consistentIndex) { return true }
          crc = CRC32C.update(crc, key)
          crc = CRC32C.update(crc, value)
          return true
        }
      }
      return crc
    }
  }

  /// Replaces the data file with `contents`, a copy another member made,
  /// and closes this store; open a new one on `path` after.
  ///
  /// Crash safety: the copy is written and fsynced beside the file, then
  /// renamed over it. Before the rename the old file stands (open deletes
  /// the leftover copy); after it, the new one. The server keeps the raft
  /// snapshot that carried `contents` until it takes its own, and installs
  /// it again at restart if the file is still the old one.
  public func replace(with contents: Data) throws(MVCCError) {
    let incoming = path + Self.incomingSuffix
    let fd = try FileOps.create(incoming)
    do throws(MVCCError) {
      defer { FileOps.close(fd) }
      let failure = contents.withUnsafeBytes { bytes -> MVCCError? in
        do throws(MVCCError) {
          try FileOps.write(fd, bytes, path: incoming)
          return nil
        } catch {
          return error
        }
      }
      if let failure { throw failure }
      try FileOps.sync(fd, path: incoming)
    } catch {
      try? FileOps.removeIfPresent(incoming)
      throw error
    }
    close()
    try FileOps.rename(incoming, to: path)
    try FileOps.syncDirectory(FileOps.directory(of: path))
  }
}
