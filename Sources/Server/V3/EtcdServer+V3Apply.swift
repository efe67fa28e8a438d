import EtcdProto
import MVCC
import Net

/// Applying v3 writes to the MVCC store. Entries share one LMDB write
/// transaction (a batch) that commits every 100 ms, before a snapshot and
/// at stop; the batch carries the consistent index (the last applied raft
/// index), so after a crash the WAL replays exactly the entries the store
/// does not have.
extension EtcdServer {
  static let mvccCommitIntervalMs: UInt64 = 100

  /// What a v3 write produced, for the client that proposed it.
  enum V3Answer {
    case put(Etcdserverpb_PutResponse)
    case deleteRange(Etcdserverpb_DeleteRangeResponse)
    case txn(Etcdserverpb_TxnResponse)
    case compaction(Etcdserverpb_CompactionResponse)
  }

  func openMVCC() throws {
    let path = config.effectiveDataDir + "/member/snap/db"
    do {
      mvcc = try MVCCStore(path: path)
    } catch {
      throw StartError(description: "cannot open the backend \(path): \(error)")
    }
    mvccCommitTimer = LoopTimer.every(Self.mvccCommitIntervalMs, on: loop) { [weak self] in
      self?.commitMVCC()
    }
  }

  /// Commits the open batch; a failure stops the member, since the store
  /// can no longer promise to hold what was applied.
  func commitMVCC() {
    guard let mvcc, mvcc.isBatchOpen else { return }
    do {
      try mvcc.commitBatch()
    } catch {
      logger.critical("stopping: the backend failed", metadata: ["error": "\(error)"])
      stop { [loop] in loop.stop() }
    }
  }

  /// Before applying entries: a batch to apply them in.
  func beginMVCCBatch() {
    guard let mvcc, !mvcc.isBatchOpen else { return }
    do {
      try mvcc.beginBatch()
    } catch {
      logger.critical("stopping: the backend failed", metadata: ["error": "\(error)"])
      stop { [loop] in loop.stop() }
    }
  }

  /// After applying entries up to `index`.
  func recordAppliedInMVCC(_ index: UInt64) {
    guard let mvcc, mvcc.isBatchOpen else { return }
    try? mvcc.setConsistentIndex(index)
  }

  func applyV3(_ request: Swetcdpb_InternalRequest, entry: Raftpb_Entry) {
    // Replayed after a restart: the store already has it.
    guard let mvcc, entry.index > mvcc.consistentIndex else { return }
    let outcome: Result<V3Answer, V3Error>
    do throws(V3Error) {
      outcome = .success(try applyV3Write(request, mvcc))
    } catch {
      outcome = .failure(error)
    }
    waiters.trigger(request.id, .v3(outcome))
  }

  private func applyV3Write(_ request: Swetcdpb_InternalRequest, _ mvcc: MVCCStore) throws(V3Error)
    -> V3Answer
  {
    switch request.request {
    case .compaction(let compaction):
      do {
        try mvcc.compact(compaction.revision)
        // The rows go at once, so `physical` always holds. Interleaving the
        // steps with other work is issue 4's remaining compaction work.
        while try !mvcc.compactStep() {}
      } catch {
        throw V3Error(error)
      }
      return .compaction(Etcdserverpb_CompactionResponse())
    case .put(let put):
      return .put(try write(mvcc) { txn throws(V3Error) in try V3KV.put(put, &txn) })
    case .deleteRange(let delete):
      return .deleteRange(
        try write(mvcc) { txn throws(V3Error) in try V3KV.deleteRange(delete, &txn) })
    case .txn(let txnRequest):
      return .txn(try write(mvcc) { txn throws(V3Error) in try V3KV.txn(txnRequest, &txn) })
    default:
      throw V3Error(code: .unimplemented, message: "etcdserver: unknown request")
    }
  }

  /// One logical write (one revision); V3 errors pass through, store
  /// failures become V3 errors.
  private func write<T>(_ mvcc: MVCCStore, _ body: (inout MVCCWriteTxn) throws(V3Error) -> T)
    throws(V3Error) -> T
  {
    var failure: V3Error?
    let result: MVCCWriteResult<T?>
    do {
      result = try mvcc.write { txn throws(MVCCError) -> T? in
        do throws(V3Error) {
          return try body(&txn)
        } catch {
          failure = error
          return nil
        }
      }
    } catch {
      throw V3Error(error)
    }
    if let failure { throw failure }
    notifyWatchers(result.events, revision: result.revision)
    return result.value!
  }

  /// The header every v3 response carries.
  func responseHeader() -> Etcdserverpb_ResponseHeader {
    var header = Etcdserverpb_ResponseHeader()
    header.clusterID = clusterID
    header.memberID = memberID
    header.revision = mvcc?.currentRevision ?? 1
    header.raftTerm = driver.node.term
    return header
  }
}
