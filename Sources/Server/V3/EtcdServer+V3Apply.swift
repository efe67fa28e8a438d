import EtcdProto
import MVCC
import Net
import SwiftProtobuf

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Applying v3 writes to the MVCC store. Entries share one LMDB write
/// transaction (a batch) that commits every 100 ms, before a snapshot and
/// at stop; the batch carries the consistent index (the last applied raft
/// index), so after a crash the WAL replays exactly the entries the store
/// does not have.
extension EtcdServer {

  func openMVCC() throws {
    let path = config.effectiveDataDir + "/member/snap/db"
    do {
      try adoptMVCC(try MVCCStore(path: path))
    } catch {
      throw StartError(description: "cannot open the backend \(path): \(error)")
    }
    if let limit = quota.limit, limit > SpaceQuota.suggestedMaximumBytes {
      logger.warning(
        "quota exceeds the maximum value",
        metadata: [
          "quota-size-bytes": "\(limit)",
          "quota-maximum-size-bytes": "\(SpaceQuota.suggestedMaximumBytes)",
        ])
    }
    mvccCommitTimer = LoopTimer.every(config.backendBatchIntervalMs, on: loop) { [weak self] in
      self?.commitMVCC()
    }
  }

  /// Makes `store` the backend, with the state the server keeps in memory
  /// loaded from it.
  func adoptMVCC(_ store: MVCCStore) throws {
    try lessor.load(store, now: ServerClock.monotonicNanoseconds())
    try alarms.load(store)
    mvcc = store
    refreshBackendSize()
    // A compaction a crash (or the leader's copy) left unfinished.
    scheduleCompactionSteps()
  }

  /// Commits the open batch; a failure stops the member, since the store
  /// can no longer promise to hold what was applied.
  func commitMVCC() {
    guard let mvcc, mvcc.isBatchOpen else { return }
    mvccBatchRequests = 0
    do {
      try mvcc.commitBatch()
      refreshBackendSize()
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

  /// After applying entries up to `index`. A batch that has taken
  /// --backend-batch-limit requests commits now rather than at its timer:
  /// here, where the consistent index it carries covers all it applied.
  func recordAppliedInMVCC(_ index: UInt64) {
    guard let mvcc, mvcc.isBatchOpen else { return }
    try? mvcc.setConsistentIndex(index)
    if mvccBatchRequests >= config.backendBatchLimit { commitMVCC() }
  }

  func applyV3(_ request: Swetcdpb_InternalRequest, entry: Raftpb_Entry) {
    // Replayed after a restart: the store already has it.
    guard let mvcc, entry.index > mvcc.consistentIndex else { return }
    mvccBatchRequests += 1
    let started = ServerClock.monotonicNanoseconds()
    let outcome: Result<any V3Response, V3Error>
    do throws(V3Error) {
      outcome = .success(try applyWithinQuota(request, mvcc))
    } catch {
      outcome = .failure(error)
    }
    let took = ServerClock.monotonicNanoseconds() - started
    if took > config.warningApplyDurationNs {
      logger.warning(
        "apply request took too long",
        metadata: [
          "took": "\(ServerClock.goDuration(took))",
          "expected-duration": "\(ServerClock.goDuration(config.warningApplyDurationNs))",
          "request": "\(request.request.map { "\($0)".prefix { $0 != "(" } } ?? "none")",
        ])
    }
    // A physical compaction is answered once its rows are gone.
    if case .compaction(let compaction) = request.request, compaction.physical,
      case .success = outcome, mvcc.pendingCompaction != nil
    {
      awaitingPhysicalCompaction.append { [weak self] in
        self?.waiters.trigger(request.id, .v3(outcome))
      }
      return
    }
    // As etcd: the first member to find the backend full raises the alarm,
    // and answers once it has.
    if case .failure(.noSpace) = outcome, !alarms.isActive(.nospace) {
      logger.warning(
        "message exceeded backend quota; raising alarm",
        metadata: ["quota-size-bytes": "\(quota.limit ?? 0)"])
      raiseNoSpace { [weak self] in self?.waiters.trigger(request.id, .v3(outcome)) }
    } else {
      waiters.trigger(request.id, .v3(outcome))
    }
  }

  /// etcd's appliers around the store: while a CORRUPT alarm is active
  /// only alarms and read-only txns pass (etcd serves the latter without
  /// the log); while a NOSPACE alarm is active only requests that store
  /// nothing pass (deletes, compaction, lease revokes, alarms, txns without
  /// puts); otherwise a request that did not fit is applied all the same
  /// and answered with NOSPACE.
  private func applyWithinQuota(_ request: Swetcdpb_InternalRequest, _ mvcc: MVCCStore)
    throws(V3Error) -> any V3Response
  {
    if alarms.isActive(.corrupt) {
      switch request.request {
      case .alarm: break
      case .txn(let txn) where V3KV.isReadOnly(txn): break
      default: throw .corrupt
      }
    }
    let cost = SpaceQuota.cost(request)
    if cost > 0 && alarms.isActive(.nospace) { throw .noSpace }
    let fits = quota.fits(cost: cost, dbSize: backendSize)
    let response = try applyV3Write(request, mvcc)
    if !fits { throw .noSpace }
    return response
  }

  private func applyV3Write(_ request: Swetcdpb_InternalRequest, _ mvcc: MVCCStore) throws(V3Error)
    -> any V3Response
  {
    switch request.request {
    case .alarm(let alarm):
      return try applyAlarm(alarm, mvcc)
    case .compaction(let compaction):
      do {
        try mvcc.compact(compaction.revision)
      } catch {
        throw V3Error(error)
      }
      scheduleCompactionSteps()
      return Etcdserverpb_CompactionResponse()
    case .put(let put):
      let leases = lessor
      return try write(mvcc) { txn throws(V3Error) in
        try V3KV.put(put, &txn, leaseExists: leases.contains)
      }
    case .deleteRange(let delete):
      return try write(mvcc) { txn throws(V3Error) in try V3KV.deleteRange(delete, &txn) }
    case .txn(let txnRequest):
      let leases = lessor
      let path = try V3KV.path(
        txnRequest, current: mvcc.currentRevision, compacted: mvcc.compactRevision,
        compare: mvcc.compare,
        keyExists: { key throws(MVCCError) in try !mvcc.range(key).kvs.isEmpty },
        leaseExists: leases.contains)
      var remaining = path[...]
      return try write(mvcc) { txn throws(V3Error) in
        try V3KV.txn(txnRequest, path: &remaining, &txn, leaseExists: leases.contains)
      }
    case .leaseGrant(let grant):
      let lease = try lessor.grant(
        grant.id, ttl: grant.ttl, now: ServerClock.monotonicNanoseconds(), mvcc)
      var response = Etcdserverpb_LeaseGrantResponse()
      response.id = lease.id
      response.ttl = lease.ttl
      return response
    case .leaseRevoke(let revoke):
      guard lessor.contains(revoke.id) else { throw .leaseNotFound }
      // Its keys go in one revision, then the lease itself.
      let attached: [Data]
      do throws(MVCCError) {
        attached = try Lessor.keys(attachedTo: revoke.id, in: mvcc)
      } catch {
        throw V3Error(error)
      }
      if !attached.isEmpty {
        _ = try write(mvcc) { txn throws(V3Error) in
          for key in attached {
            do throws(MVCCError) {
              _ = try txn.deleteRange(key)
            } catch {
              throw V3Error(error)
            }
          }
        }
      }
      try lessor.remove(revoke.id, mvcc)
      return Etcdserverpb_LeaseRevokeResponse()
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

  /// The header every v3 response carries; the caller sets it on the
  /// response of an applied write.
  func responseHeader() -> Etcdserverpb_ResponseHeader {
    var header = Etcdserverpb_ResponseHeader()
    header.clusterID = clusterID
    header.memberID = memberID
    header.revision = mvcc?.currentRevision ?? 1
    header.raftTerm = driver.node.term
    return header
  }

  /// The header of the Cluster service's answers: etcd fills in no
  /// revision there, so it is left out (zero) as in etcd's.
  func clusterResponseHeader() -> Etcdserverpb_ResponseHeader {
    var header = responseHeader()
    header.revision = 0
    return header
  }
}

/// A v3 response: every one carries etcd's header.
protocol V3Response: SwiftProtobuf.Message {
  var header: Etcdserverpb_ResponseHeader { get set }
}

extension Etcdserverpb_PutResponse: V3Response {}
extension Etcdserverpb_DeleteRangeResponse: V3Response {}
extension Etcdserverpb_TxnResponse: V3Response {}
extension Etcdserverpb_CompactionResponse: V3Response {}
extension Etcdserverpb_LeaseGrantResponse: V3Response {}
extension Etcdserverpb_LeaseRevokeResponse: V3Response {}
extension Etcdserverpb_AlarmResponse: V3Response {}

/// Removing a compaction's rows, as etcd does in the background: a batch
/// of rows (--experimental-compaction-batch-limit) every 10 ms, so requests
/// are served in between. What each step
/// removes does not depend on when it runs (rows at or below the compacted
/// revision that no key still needs), so members agree whatever their pace,
/// and HashKV already leaves out rows a pending compaction will remove.
extension EtcdServer {
  static let compactionStepIntervalMs: UInt64 = 10

  func scheduleCompactionSteps() {
    guard compactionTimer == nil, mvcc?.pendingCompaction != nil else { return }
    compactionTimer = LoopTimer.every(Self.compactionStepIntervalMs, on: loop) { [weak self] in
      self?.compactionStep()
    }
  }

  private func compactionStep() {
    // A defragmentation copy must not be overtaken by a commit.
    guard heldApplies == nil else { return }
    guard let mvcc else { return }
    do {
      guard try mvcc.compactStep(maxRows: config.compactionBatchLimit) else { return }
    } catch {
      logger.critical("stopping: the backend failed", metadata: ["error": "\(error)"])
      stop { [loop] in loop.stop() }
      return
    }
    compactionTimer?.cancel()
    compactionTimer = nil
    let answers = awaitingPhysicalCompaction
    awaitingPhysicalCompaction = []
    for answer in answers { answer() }
  }
}
