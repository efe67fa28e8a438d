import EtcdProto
import Logging
import Net
import Raft
import Storage
import SwiftProtobuf

/// Why a member refused to start; the text is what etcd says where it has a
/// counterpart.
public struct StartError: Error, CustomStringConvertible {
  public var description: String
}

extension EtcdServer {
  /// Opens or creates the data dir, starts Raft, the peer transport and the
  /// client listeners. Loop thread, before `loop.run()`.
  public func start() throws {
    let raftStorage = MemoryStorage()
    let node: RawNode
    let walDir = config.effectiveWALDir
    if MemberStorage.exists(walDirectory: walDir) {
      node = try restart(raftStorage: raftStorage, walDir: walDir)
    } else {
      node = try bootstrapNew(raftStorage: raftStorage, walDir: walDir)
    }
    storage?.maxSnapshots = config.maxSnapshots
    storage?.maxWALSegments = config.maxWALs
    logger[metadataKey: "local-member-id"] = "\(MemberID.format(memberID))"
    waiters.start(memberID: memberID, nowMs: UInt64(startTime / 1_000_000))
    installProposalTimeouts()
    // A restart opened it to install a snapshot's backend.
    if mvcc == nil { try openMVCC() }
    disk = try BlockingWorker(loop: loop)
    backendWorker = try BlockingWorker(loop: loop)
    driver = RaftDriver(
      node: node, raftStorage: raftStorage,
      persist: { [unowned self] hardState, entries, snapshot, completion in
        persistReady(hardState, entries, snapshot, completion)
      },
      callbacks: raftCallbacks())
    try startPeerTransport()
    try startClientListeners()
    if let mode = try config.autoCompaction() { startAutoCompaction(mode) }
    startTicking()
    startExpiring()
    startLeaseExpiry()
    logger.info(
      "started member",
      metadata: [
        "name": "\(config.name)", "data-dir": "\(config.effectiveDataDir)",
        "cluster-id": "\(MemberID.format(clusterID))",
      ])
    driver.pump()
  }

  private func restart(raftStorage: MemoryStorage, walDir: String) throws -> RawNode {
    logger.info(
      "server has already been initialized",
      metadata: ["data-dir": "\(config.effectiveDataDir)", "dir-type": "member"])
    let (opened, recovered) = try MemberStorage.open(
      dataDir: config.effectiveDataDir, walDirectory: walDir)
    storage = opened
    memberID = recovered.memberID
    members = ClusterMembers(clusterID: recovered.clusterID, members: [])
    if let tail = recovered.tornTail {
      logger.warning(
        "repaired a torn WAL tail", metadata: ["file": "\(tail.file)", "offset": "\(tail.offset)"])
    }
    if let snap = recovered.snapshot {
      try openMVCC()
      raftStorage.applySnapshot(snap)
      try restoreApplicationState(snap)
    }
    raftStorage.append(recovered.entries)
    raftStorage.setHardState(recovered.hardState)
    return RawNode(config: raftConfig(), storage: raftStorage)
  }

  private func bootstrapNew(raftStorage: MemoryStorage, walDir: String) throws -> RawNode {
    let initial = ClusterMembers.initial(
      config.effectiveInitialCluster, token: config.initialClusterToken)
    guard let me = initial.member(named: config.name) else {
      throw StartError(
        description:
          "couldn't find local name \"\(config.name)\" in the initial cluster configuration")
    }
    let advertised = config.initialAdvertisePeerURLs.map(\.description).sorted()
    guard advertised == me.peerURLs else {
      throw StartError(
        description:
          "--initial-cluster has \(config.name)=\(me.peerURLs.joined(separator: ",")) but missing "
          + "from --initial-advertise-peer-urls=\(advertised.joined(separator: ","))")
    }
    if config.initialClusterState == .existing {
      return try join(initial, raftStorage: raftStorage, walDir: walDir)
    }
    memberID = me.id
    members = initial
    storage = try MemberStorage.create(
      dataDir: config.effectiveDataDir, walDirectory: walDir, memberID: memberID,
      clusterID: initial.clusterID, metadata: [])
    var contexts: [UInt64: [UInt8]] = [:]
    for member in initial.all {
      let context = Swetcdpb_MemberContext(member.id, member.peerURLs)
      contexts[member.id] = (try? context.serializedBytes()) ?? []
    }
    return RawNode(
      config: raftConfig(), storage: raftStorage, peers: initial.all.map(\.id),
      peerContexts: contexts)
  }

  /// `--initial-cluster-state existing`: the member was added at run time.
  /// It takes its ID and the cluster ID from a running member and starts
  /// with an empty log; the leader then sends it the log (or a snapshot),
  /// and applying that builds the membership as on every other member.
  private func join(_ initial: ClusterMembers, raftStorage: MemoryStorage, walDir: String) throws
    -> RawNode
  {
    let others = initial.all.filter { $0.name != config.name }.flatMap(\.peerURLs)
    let remote: RemoteCluster
    do {
      remote = try RemoteCluster.fetch(from: others.compactMap(EndpointURL.parse))
      memberID = try remote.assignID(local: initial, name: config.name)
    } catch {
      throw StartError(description: "cannot join the existing cluster: \(error)")
    }
    members = ClusterMembers(clusterID: remote.clusterID, members: [])
    joinPeers = remote.members
    logger.info(
      "joining an existing cluster",
      metadata: [
        "cluster-id": "\(MemberID.format(remote.clusterID))",
        "members": "\(remote.members.count)",
      ])
    storage = try MemberStorage.create(
      dataDir: config.effectiveDataDir, walDirectory: walDir, memberID: memberID,
      clusterID: remote.clusterID, metadata: [])
    return RawNode(config: raftConfig(), storage: raftStorage)
  }

  private func raftCallbacks() -> RaftDriver.Callbacks {
    RaftDriver.Callbacks(
      send: { [unowned self] messages in sendRaftMessages(messages) },
      applySnapshot: { [unowned self] snap in
        whenApplying { [unowned self] in
          do {
            try restoreApplicationState(snap)
          } catch {
            logger.critical("cannot apply a snapshot", metadata: ["error": "\(error)"])
          }
        }
      },
      apply: { [unowned self] entries in whenApplying { [unowned self] in apply(entries) } },
      readStates: { [unowned self] states in readStatesArrived(states) },
      droppedProposals: { [unowned self] dropped in proposalsDropped(dropped) },
      softState: { [unowned self] soft in roleChanged(soft) },
      fatal: { [unowned self] error in
        logger.critical("stopping: the WAL failed", metadata: ["error": "\(error)"])
        stop { [loop] in loop.stop() }
      })
  }

  private func startPeerTransport() throws {
    transport = PeerTransport(
      loop: loop, memberID: memberID, clusterID: clusterID, logger: logger,
      callbacks: .init(
        message: { [unowned self] message in
          recordReceived(message)
          driver.step(message)
        },
        unreachable: { [unowned self] id in
          if isLeader { leaderStats.failed(id) }
          driver.node.reportUnreachable(id)
        },
        snapshotStatus: { [unowned self] id, delivered in
          driver.node.reportSnapshot(to: id, succeeded: delivered)
        }))
    for url in config.listenPeerURLs {
      let bound = try AddressResolver.listen(on: url) { try transport.listen(on: $0) }
      logger.info("listening for peers", metadata: ["address": "\(bound)"])
    }
    for member in members.all + joinPeers { updatePeer(member) }
    startPeerHTTP()
  }

  func updatePeer(_ member: Member) {
    let addresses = member.peerURLs.compactMap { text in
      EndpointURL.parse(text).flatMap { try? AddressResolver.resolve($0) }
    }
    transport.setPeer(member.id, addresses: addresses)
  }

  /// HTTP/1.1 (v2, /health, ...) and gRPC (v3) share each client port;
  /// the first bytes of a connection pick the protocol.
  private func startClientListeners() throws {
    var configuration = HTTPServer.Configuration()
    configuration.maxBodyBytes = config.maxRequestBytes
    let server = HTTPServer(loop: loop, configuration: configuration) {
      [unowned self] request, responder in
      handleClientRequest(request, responder)
    }
    clientServer = server
    let grpc = startGRPC()
    grpcServer = grpc
    for url in config.listenClientURLs {
      let listener = try AddressResolver.listen(on: url) { address in
        try TCPListener(loop: loop, address: address) { [weak server, weak grpc] connection in
          guard let server, let grpc else { return connection.close(reason: nil) }
          ProtocolSniffer.route(connection, http: server, grpc: grpc)
        }
      }
      clientListeners.append(listener)
      logger.info("serving client traffic", metadata: ["address": "\(listener.localAddress)"])
    }
    guard !config.listenMetricsURLs.isEmpty else { return }
    let metrics = HTTPServer(loop: loop) { [unowned self] request, responder in
      handleMetricsRequest(request, responder)
    }
    metricsServer = metrics
    for url in config.listenMetricsURLs {
      let bound = try AddressResolver.listen(on: url) { try metrics.listen(on: $0) }
      logger.info("serving metrics", metadata: ["address": "\(bound.localAddress)"])
    }
  }
}

/// Lets the disk thread own the member's storage: only that thread touches
/// it once the loop has started.
private struct DiskOwned: @unchecked Sendable {
  let storage: MemberStorage
}

extension EtcdServer {
  /// Runs `work` on the disk thread with the member's storage; `completion`
  /// gets the error text, if any, back on the loop thread.
  func onDisk(
    _ work: @escaping @Sendable (MemberStorage) throws -> Void,
    completion: @escaping (String?) -> Void
  ) {
    let owned = DiskOwned(storage: storage)
    diskJobs += 1
    disk.submit(
      {
        do {
          try work(owned.storage)
          return nil
        } catch {
          return "\(error)"
        }
      },
      completion: { [weak self] (failure: String?) in
        self?.diskJobs -= 1
        completion(failure)
      })
  }
}

extension EtcdServer {
  /// Step 2 of a Ready. Usually on the disk thread, so the loop goes on
  /// reading requests and peer messages (the next Ready then carries all of
  /// them: group commit). With exactly one request of this member's clients
  /// in flight nothing can join it, and the two thread handoffs cost more
  /// than the loop could do meanwhile: then the write and fdatasync run on
  /// the loop, at the end of this iteration, once every request read in it
  /// has been counted. A member with no request of its own (a follower
  /// taking appends) keeps the disk thread.
  func persistReady(
    _ hardState: Raftpb_HardState?, _ entries: [Raftpb_Entry], _ snapshot: Raftpb_Snapshot?,
    _ completion: @escaping (Error?) -> Void
  ) {
    let onDiskThread = { [unowned self] in
      onDisk(
        { storage in
          try storage.persist(hardState: hardState, entries: entries, snapshot: snapshot)
        }, completion: { failure in completion(failure.map { StartError(description: $0) }) })
    }
    guard snapshot == nil, waiters.count == 1 else { return onDiskThread() }
    loop.atIterationEnd { [unowned self] in
      // The disk thread owns the storage while it has work.
      guard diskJobs == 0, waiters.count == 1 else { return onDiskThread() }
      do {
        try storage.persist(hardState: hardState, entries: entries, snapshot: nil)
        completion(nil)
      } catch {
        completion(StartError(description: "\(error)"))
      }
    }
  }
}
