import EtcdProto
import Logging
import Raft
import Storage
import SwiftProtobuf

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

extension EtcdServer {
  /// Payload bytes applied since the last snapshot that also call for one,
  /// once at least --experimental-snapshot-catchup-entries entries came
  /// with them. The in-memory log holds every entry since the last
  /// snapshot, and the catch-up entries before it: at etcd's 100,000
  /// entries of a few hundred bytes it was 40 MB of a server's 100 MB peak.
  static let snapshotLogBytes = 16 << 20

  /// Every --snapshot-count applied entries, or `snapshotLogBytes`, the
  /// application state becomes a raft snapshot: written on the disk thread
  /// (file, WAL marker, purge), then the in-memory log is compacted,
  /// keeping `--experimental-snapshot-catchup-entries`.
  func maybeSnapshot() {
    let logIsLarge =
      appliedBytesSinceSnapshot >= Self.snapshotLogBytes
      && appliedSinceSnapshot >= config.snapshotCatchUpEntries
    guard appliedSinceSnapshot >= config.snapshotCount || logIsLarge, storage != nil else {
      return
    }
    appliedSinceSnapshot = 0
    appliedBytesSinceSnapshot = 0
    // The snapshot lets the WAL drop the entries before it, so the backend
    // must hold them durably first: after a crash its consistent index has
    // to be at least the snapshot's, or replay could not restore them.
    commitMVCC()
    do {
      try mvcc?.sync()
    } catch {
      logger.critical("stopping: cannot sync the backend", metadata: ["error": "\(error)"])
      stop { [loop] in loop.stop() }
      return
    }
    let snap: Raftpb_Snapshot
    do {
      snap = try driver.raftStorage.createSnapshot(
        index: appliedIndex, confState: driver.node.confState, data: applicationState())
    } catch {
      return
    }
    let index = snap.metadata.index
    onDisk(
      { storage in try storage.saveSnapshot(snap) },
      completion: { [weak self] (failure: String?) in
        guard let self else { return }
        if let failure {
          logger.critical("stopping: cannot save a snapshot", metadata: ["error": "\(failure)"])
          stop { [loop] in loop.stop() }
          return
        }
        logger.info("saved snapshot", metadata: ["snapshot-index": "\(index)"])
        if index > config.snapshotCatchUpEntries {
          try? driver.raftStorage.compact(index - config.snapshotCatchUpEntries)
        }
      })
  }

  /// Everything applied so far, as the data of a raft snapshot.
  func applicationState() -> Data {
    var state = Swetcdpb_ServerSnapshot()
    state.v2Store = .init(v2StoreSnapshot())
    state.clusterID = members.clusterID
    state.members = members.all.map { member in
      var record = Swetcdpb_MemberRecord()
      record.id = member.id
      record.name = member.name
      record.peerUrls = member.peerURLs
      record.clientUrls = member.clientURLs
      record.isLearner = member.isLearner
      return record
    }
    state.removedMemberIds = members.removedIDs.sorted()
    return (try? state.serializedBytes()) ?? Data()
  }

  /// Replaces the application state with a snapshot's: at restart, or when
  /// the leader sends one.
  func restoreApplicationState(_ snap: Raftpb_Snapshot) throws {
    let state = try Swetcdpb_ServerSnapshot(serializedBytes: snap.data)
    try restoreV2Store(Array(state.v2Store))
    let restored = state.members.map {
      Member(
        id: $0.id, name: $0.name, peerURLs: $0.peerUrls, clientURLs: $0.clientUrls,
        isLearner: $0.isLearner)
    }
    members = ClusterMembers(
      clusterID: state.clusterID, members: restored, removed: Set(state.removedMemberIds))
    try installBackend(state.backend, snapshotIndex: snap.metadata.index)
    appliedIndex = snap.metadata.index
    appliedTerm = snap.metadata.term
    appliedSinceSnapshot = 0
    appliedBytesSinceSnapshot = 0
    if transport != nil {
      for member in members.all where member.id != memberID { updatePeer(member) }
    }
  }
}
