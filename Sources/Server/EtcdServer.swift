// The etcd server of one member: the single loop thread owns Raft, the
// stores, the peer transport and the client listeners; the WAL syncs on a
// disk thread (see docs/architecture.md).
//
// Life of a write: a client handler proposes an InternalRequest carrying a
// fresh request ID and registers a waiter; RaftDriver persists and
// replicates it; when the entry is applied (on every member) the result is
// handed to the waiter on the member that proposed it.
import EtcdProto
import Logging
import MVCC
import Net
import Raft
import Storage
import V2Store

public final class EtcdServer {
  public let config: ServerConfig
  let loop: EventLoop
  var logger: Logger
  public internal(set) var memberID: UInt64 = 0
  var members: ClusterMembers
  var driver: RaftDriver!
  var transport: PeerTransport!
  var storage: MemberStorage!
  var disk: BlockingWorker!
  /// Jobs submitted to `disk` and not completed: while there are none the
  /// loop may use the storage itself.
  var diskJobs = 0
  /// Backend copies (snapshots), kept off `disk` so WAL syncs never wait.
  var backendWorker: BlockingWorker!
  /// While a defragmentation runs: applies waiting for it, in order.
  var heldApplies: [() -> Void]?
  var tickTimer: LoopTimer?
  var clientServer: HTTPServer?
  var peerHTTPServer: HTTPServer?
  /// Serves --listen-metrics-urls.
  var metricsServer: HTTPServer?
  /// A joining member's view of the running cluster, so it can answer the
  /// leader before its own log has the membership.
  var joinPeers: [Member] = []
  var clientListeners: [TCPListener] = []
  /// v3 streams opened with `hasleader: true`, ended when the member goes
  /// too long without a leader; pruned of ended calls every election.
  var leaderRequiredStreams: [GRPCServerCall] = []
  var ticksWithoutLeader = 0
  var ticksSincePrune = 0
  /// Entries applied since the last snapshot, and their payload bytes.
  var appliedSinceSnapshot: UInt64 = 0
  var appliedBytesSinceSnapshot = 0
  var appliedIndex: UInt64 = 0
  var appliedTerm: UInt64 = 0
  let waiters = RequestWaiters()
  var startTime = ServerClock.wallNanoseconds()
  /// Leaders this member has seen take over (etcd_server_leader_changes_seen_total).
  var leaderChangesSeen = 0
  var lastSeenLeader: UInt64 = 0
  var published = false
  /// The v2 keys store: user keys under "/1", cluster bookkeeping under
  /// "/0", as etcd lays it out (and so etcd's v2 indexes).
  let v2Store = V2Store(namespaces: ["/0", "/1"])
  /// Long-polling /v2/keys watchers waiting for events.
  var v2Watchers: [WatcherID: V2WatchStream] = [:]
  var syncTimer: LoopTimer?
  var publishInFlight = false
  /// Client requests that arrived before this member published itself.
  var awaitingPublish: [() -> Void] = []
  /// Proposals made while no leader was known.
  var waitingForLeader: [() -> Void] = []
  /// Proposals held in `waitingForLeader`, not yet given to Raft.
  var proposalsAwaitingLeader: Set<UInt64> = []
  /// When this member last became leader (loop clock, ms); 0 if never.
  var leaderElectedAtMs: UInt64 = 0
  var stopping = false
  var mvcc: MVCCStore?
  /// The backend file's size as of the last commit (`refreshBackendSize`).
  var backendSize: Int64 = 0
  var mvccCommitTimer: LoopTimer?
  /// v3 requests applied in the open backend batch.
  var mvccBatchRequests = 0
  /// Removes a pending compaction's rows step by step.
  var compactionTimer: LoopTimer?
  var autoCompactor: AutoCompactor?
  var autoCompactionTimer: LoopTimer?
  var autoCompactionInFlight = false
  /// Physical compactions to answer once their rows are gone.
  var awaitingPhysicalCompaction: [() -> Void] = []
  var grpcServer: GRPCServer?
  /// A gRPC connection to this member for the /v3 JSON gateway, Lock and
  /// Election; made on first use.
  var loopback: LoopbackGRPCClient?
  var lessor: Lessor
  var alarms = AlarmStore()
  let quota: SpaceQuota
  var leaseTimer: LoopTimer?
  var leaseIDCounter: UInt64 = 0
  /// Leases whose revocation the leader has proposed and not seen applied.
  var revoking: Set<Int64> = []
  var v3WatchStreams: [ObjectIdentifier: V3WatchStream] = [:]
  var watchProgressTimer: LoopTimer?
  var readIndexCounter: UInt64 = 0
  /// Linearizable reads waiting for their ReadIndex, by request context.
  var readIndexWaiters: [UInt64: (V3Error?) -> Void] = [:]
  /// Reads whose ReadIndex arrived but is not applied yet.
  var readsAwaitingApply: [(index: UInt64, waiter: (V3Error?) -> Void)] = []
  var serverStats = ServerStats()
  var leaderStats = LeaderStats()

  public init(config: ServerConfig, loop: EventLoop, logger: Logger) {
    self.config = config
    self.loop = loop
    self.logger = logger
    members = ClusterMembers(clusterID: 0, members: [])
    lessor = Lessor(electionTimeoutMs: config.electionTimeout)
    quota = SpaceQuota(configured: config.quotaBackendBytes)
  }

  public var clusterID: UInt64 { members.clusterID }
  public var isLeader: Bool { driver?.node.role == .leader }
  public var leaderID: UInt64 { driver?.node.leader ?? 0 }

  /// Ticks Raft every heartbeat interval; an election takes
  /// election-timeout / heartbeat-interval ticks.
  func startTicking() {
    tickTimer = LoopTimer.every(UInt64(config.heartbeatInterval), on: loop) { [weak self] in
      guard let self else { return }
      driver.tick()
      waiters.expire(nowMs: loop.nowMs)
      checkLeaderRequiredStreams()
    }
  }

  var electionTicks: Int { max(2, config.electionTimeout / config.heartbeatInterval) }

  func raftConfig() -> RaftConfig {
    var raft = RaftConfig(id: memberID, randomSeed: memberID ^ UInt64(startTime))
    raft.heartbeatTicks = 1
    raft.electionTicks = electionTicks
    raft.preVote = config.preVote
    raft.maxEntriesSizePerMessage = 1 << 20
    raft.maxInflightMessages = 512
    return raft
  }

  /// Stops serving: listeners close, the loop finishes in-flight work, the
  /// disk thread drains, and the WAL closes after its last sync.
  public func stop(completion: @escaping () -> Void) {
    guard !stopping else { return }
    stopping = true
    logger.info("stopping server")
    tickTimer?.cancel()
    syncTimer?.cancel()
    for listener in clientListeners { listener.close() }
    mvccCommitTimer?.cancel()
    compactionTimer?.cancel()
    autoCompactionTimer?.cancel()
    leaseTimer?.cancel()
    watchProgressTimer?.cancel()
    loopback?.close()
    grpcServer?.shutdown(deadlineMs: 2000) {}
    transport?.stop()
    peerHTTPServer?.shutdown(deadlineMs: 0) {}
    metricsServer?.shutdown(deadlineMs: 0) {}
    let finish = { [self] in
      commitMVCC()
      mvcc?.close()
      disk?.stop()
      backendWorker?.stop()
      storage?.close()
      completion()
    }
    if let clientServer {
      clientServer.shutdown(deadlineMs: 2000, completion: finish)
    } else {
      finish()
    }
  }
}

/// Clients waiting for their proposals to be applied, by request ID, and
/// when each gives up. A class, so that a callback may propose or finish
/// another request: a struct held by the server would be under exclusive
/// access while its own method runs the callback.
final class RequestWaiters {
  private var waiting: [UInt64: (callback: (ApplyResult) -> Void, startMs: UInt64)] = [:]
  /// What a request that ran out of time is told, given its ID and when it
  /// was registered; the server says why, as etcd does.
  var timeoutResult: (_ id: UInt64, _ startMs: UInt64) -> ApplyResult = { _, _ in
    .timedOut(.unapplied("etcdserver: request timed out"))
  }
  private var nextID: UInt64 = 0
  /// (deadline, ID) per timeout length, in registration order. Within one
  /// length the deadlines never decrease, so expiring looks at fronts only:
  /// no timer per request.
  private var deadlines: [UInt64: DeadlineQueue] = [:]

  private struct DeadlineQueue {
    var entries: [(deadlineMs: UInt64, id: UInt64)] = []
    var head = 0

    mutating func popExpired(nowMs: UInt64) -> [UInt64] {
      var expired: [UInt64] = []
      while head < entries.count && entries[head].deadlineMs <= nowMs {
        expired.append(entries[head].id)
        head += 1
      }
      // Reclaim the consumed prefix once it is most of the array.
      if head > 1024 && head * 2 > entries.count {
        entries.removeFirst(head)
        head = 0
      }
      return expired
    }
  }

  /// IDs are unique across members: the member ID's low 16 bits, the start
  /// time in milliseconds, then a counter (as etcd's idutil lays them out).
  func start(memberID: UInt64, nowMs: UInt64) {
    nextID = (memberID & 0xFFFF) << 48 | (nowMs & 0xFF_FFFF_FFFF) << 8
  }

  /// A new request ID whose `callback` runs once: when the request is
  /// applied or fails, or with "request timed out" at `expire` after
  /// `timeoutMs`.
  func register(
    timeoutMs: UInt64, nowMs: UInt64, _ callback: @escaping (ApplyResult) -> Void
  ) -> UInt64 {
    nextID &+= 1
    waiting[nextID] = (callback, nowMs)
    deadlines[timeoutMs, default: DeadlineQueue()].entries.append((nowMs + timeoutMs, nextID))
    return nextID
  }

  func trigger(_ id: UInt64, _ result: ApplyResult) {
    waiting.removeValue(forKey: id)?.callback(result)
  }

  /// Gives up on `id` now (its client's deadline passed); its queued
  /// deadline later finds nothing to expire.
  func expire(_ id: UInt64) {
    guard let startMs = waiting[id]?.startMs else { return }
    trigger(id, timeoutResult(id, startMs))
  }

  /// Fails every request whose deadline has passed; the server calls it on
  /// each tick, so a timeout fires at most one tick late.
  func expire(nowMs: UInt64) {
    for length in deadlines.keys {
      for id in deadlines[length]!.popExpired(nowMs: nowMs) { expire(id) }
    }
  }

  func isWaiting(_ id: UInt64) -> Bool { waiting[id] != nil }

  var count: Int { waiting.count }
}

/// What applying one request produced, for the client that proposed it.
enum ApplyResult {
  case done
  case failed(String)
  /// A membership change the applied membership refused.
  case refused(MembershipError)
  /// A v2 request's event or error, with the raft entry it was applied at.
  case v2(Result<Event, V2Error>, raftIndex: UInt64, raftTerm: UInt64)
  /// A v3 write's response (its header is filled in by the caller).
  case v3(Result<any V3Response, V3Error>)
  case timedOut(ProposalTimeout)
}

/// How a proposal that outlived its time is reported, as etcd reports it.
enum ProposalTimeout: Equatable {
  /// No leader was known, so it never reached Raft. etcd's proposal
  /// blocks in Raft until the request's context ends and hands back the
  /// context's own error, which gRPC sends as Unknown.
  case awaitingLeader
  /// In the log but not applied in time: etcd's "request timed out",
  /// possibly with why (previous leader failure, connection lost).
  case unapplied(String)
}
