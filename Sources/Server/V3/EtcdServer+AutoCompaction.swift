import EtcdProto
import Net

/// --auto-compaction-mode and -retention: `AutoCompactor` decides when and
/// to what revision; the leader then compacts through its own Compact
/// service, as etcd's compactor calls its server's.
extension EtcdServer {
  func startAutoCompaction(_ mode: AutoCompactor.Mode) {
    let compactor = AutoCompactor(
      mode: mode, startMs: loop.nowMs, revision: mvcc?.currentRevision ?? 1)
    autoCompactor = compactor
    autoCompactionTimer = LoopTimer.every(compactor.tickMs, on: loop) { [weak self] in
      self?.autoCompactionTick()
    }
  }

  private func autoCompactionTick() {
    guard var compactor = autoCompactor, let mvcc, !autoCompactionInFlight else { return }
    let target = compactor.tick(
      nowMs: loop.nowMs, revision: mvcc.currentRevision, isLeader: isLeader)
    autoCompactor = compactor
    guard let target else { return }
    autoCompactionInFlight = true
    // The schedule counts from the tick that started it, as etcd's counts
    // from the start of its wait, so the proposal's time does not add up.
    let startedMs = loop.nowMs
    logger.info("starting auto compaction", metadata: ["revision": "\(target)"])
    var request = Etcdserverpb_CompactionRequest()
    request.revision = target
    selfCall("/etcdserverpb.KV/Compact", request) {
      [weak self] (result: Result<Etcdserverpb_CompactionResponse, GRPCStatus>) in
      guard let self else { return }
      autoCompactionInFlight = false
      switch result {
      case .failure(let status) where status.message != V3Error.compacted.message:
        logger.warning(
          "failed auto compaction",
          metadata: ["revision": "\(target)", "error": "\(status.message)"])
      case .success, .failure:
        // Compacted past it already counts as done, as in etcd.
        autoCompactor?.compacted(to: target, nowMs: startedMs)
        logger.info("completed auto compaction", metadata: ["revision": "\(target)"])
      }
    }
  }
}
