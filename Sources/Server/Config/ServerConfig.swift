/// A member's configuration: etcd 3.4's flags, with etcd's names and
/// defaults (v2 is on by default here). Filled by `ConfigLoader` from the
/// command line, ETCD_* variables or a YAML config file.
public struct ServerConfig: Equatable, Sendable {
  public var name = "default"
  /// Empty means `<name>.etcd`.
  public var dataDir = ""
  /// Empty means `<data-dir>/member/wal`.
  public var walDir = ""
  public var listenClientURLs = [EndpointURL.parse("http://localhost:2379")!]
  public var advertiseClientURLs = [EndpointURL.parse("http://localhost:2379")!]
  public var listenPeerURLs = [EndpointURL.parse("http://localhost:2380")!]
  /// More listeners for /metrics and /health only.
  public var listenMetricsURLs: [EndpointURL] = []
  public var initialAdvertisePeerURLs = [EndpointURL.parse("http://localhost:2380")!]
  /// Empty means `<name>=<initial-advertise-peer-urls>`.
  public var initialCluster: [InitialMember] = []
  public var initialClusterToken = "etcd-cluster"
  public var initialClusterState = ClusterState.new
  /// Milliseconds.
  public var heartbeatInterval = 100
  /// Milliseconds.
  public var electionTimeout = 1000
  public var snapshotCount: UInt64 = 100_000
  /// Snapshot files and WAL segments kept; 0 keeps all.
  public var maxSnapshots = 5
  public var maxWALs = 5
  /// Entries kept in the log after a snapshot, so slightly lagging
  /// followers catch up from the log rather than a snapshot (etcd 3.5's
  /// --experimental-snapshot-catchup-entries; 3.4 fixes it at 5000).
  public var snapshotCatchUpEntries: UInt64 = 5000
  public var maxRequestBytes = 1_572_864
  /// Compares and ops a txn may hold per branch (its nested txns share it).
  public var maxTxnOps = 128
  /// Raft's pre-vote: a member that lost touch asks before disrupting the
  /// term. On by default here (etcd 3.4's default is off).
  public var preVote = true
  /// "basic" or "extensive"; swetcd exports the same set for both.
  public var metrics = "basic"
  /// Revisions a compaction removes per step.
  public var compactionBatchLimit = 1000
  /// Applying a v3 request that takes longer is logged as a warning.
  public var warningApplyDurationNs: Int64 = 100_000_000
  /// How often, and after how many applied v3 requests, the backend batch
  /// commits (etcd's --backend-batch-interval and -limit).
  public var backendBatchIntervalMs: UInt64 = 100
  public var backendBatchLimit = 10_000
  /// 0 means the default, 2 GiB.
  public var quotaBackendBytes: Int64 = 0
  public var enableV2 = true
  /// How often watchers that asked for it get a progress notification; 0
  /// keeps etcd's default (10 minutes), below 100 ms is raised to 100 ms.
  public var watchProgressNotifyIntervalMs: UInt64 = 0
  /// gRPC keepalive, in milliseconds, with grpc-go's meaning of 0 (its
  /// default): how soon a client with calls open may ping again (0: 5
  /// minutes), how long a silent client goes before the member pings it
  /// (0: 2 hours, at least 1 s), and how long that ping may go unanswered
  /// before the connection is closed (0: 20 s).
  public var grpcKeepaliveMinTimeMs: UInt64 = 5_000
  public var grpcKeepaliveIntervalMs: UInt64 = 7_200_000
  public var grpcKeepaliveTimeoutMs: UInt64 = 20_000
  /// Host names HTTP requests may name in their Host header; empty allows
  /// any (etcd's --host-whitelist, for a member without TLS).
  public var hostWhitelist: [String] = []
  /// Streams a gRPC client may open at once per connection; nil: no limit.
  public var maxConcurrentStreams: UInt32?
  /// Origins whose browsers get the CORS headers (the request's origin is
  /// echoed); empty allows every origin ("*").
  public var corsOrigins: [String] = []
  /// "periodic" or "revision"; see `autoCompaction()`.
  public var autoCompactionMode = "periodic"
  /// Hours or a Go duration (periodic), revisions (revision); "0" is off.
  public var autoCompactionRetention = "0"
  /// Refuse membership changes that could cost the quorum (etcd's default).
  public var strictReconfigCheck = true
  public var logger = "zap"
  public var logLevel = "info"
  public var logOutputs = ["default"]

  public enum ClusterState: String, Sendable {
    case new
    case existing
  }

  public init() {}

  public var effectiveDataDir: String { dataDir.isEmpty ? "\(name).etcd" : dataDir }

  /// The automatic compaction asked for, nil when off. As etcd reads the
  /// retention: a whole number is hours (periodic) or revisions; anything
  /// else must be a Go duration, whose nanoseconds a revision mode counts
  /// as revisions.
  func autoCompaction() throws(ConfigError) -> AutoCompactor.Mode? {
    let nanoseconds: Int64
    if let whole = Int64(autoCompactionRetention), whole >= 0 {
      nanoseconds = autoCompactionMode == "revision" ? whole : whole * 3_600_000_000_000
    } else if let parsed = GoDuration.nanoseconds(autoCompactionRetention) {
      nanoseconds = parsed
    } else {
      throw .configFile(
        "error parsing CompactionRetention: time: invalid duration \"\(autoCompactionRetention)\"")
    }
    guard nanoseconds > 0 else { return nil }
    if autoCompactionMode == "revision" { return .revision(retain: nanoseconds) }
    return .periodic(periodMs: max(1, UInt64(nanoseconds / 1_000_000)))
  }

  public var effectiveWALDir: String {
    walDir.isEmpty ? "\(effectiveDataDir)/member/wal" : walDir
  }

  /// The initial cluster as etcd reads it: every member with its peer URLs,
  /// in the order given.
  public var effectiveInitialCluster: [InitialMember] {
    if !initialCluster.isEmpty { return initialCluster }
    return initialAdvertisePeerURLs.map { InitialMember(name: name, url: $0) }
  }
}

/// One `name=url` pair of --initial-cluster (a member with several peer URLs
/// appears once per URL).
public struct InitialMember: Equatable, Sendable {
  public var name: String
  public var url: EndpointURL
}

/// A URL as etcd's flags take them: scheme, host and port, nothing else.
public struct EndpointURL: Equatable, Hashable, Sendable, CustomStringConvertible {
  public var scheme: String
  public var host: String
  public var port: Int

  /// Parses `http://host:port` or `https://host:port`; IPv6 hosts in
  /// brackets. Returns nil for anything etcd would refuse.
  public static func parse(_ text: String) -> EndpointURL? {
    guard let schemeEnd = text.firstRange(of: "://") else { return nil }
    let scheme = String(text[..<schemeEnd.lowerBound]).lowercased()
    guard scheme == "http" || scheme == "https" else { return nil }
    var rest = text[schemeEnd.upperBound...]
    if rest.hasSuffix("/") { rest = rest.dropLast() }
    guard !rest.contains("/"), !rest.isEmpty else { return nil }
    let host: Substring
    let portText: Substring?
    if rest.hasPrefix("[") {
      guard let close = rest.firstIndex(of: "]") else { return nil }
      host = rest[rest.index(after: rest.startIndex)..<close]
      let after = rest[rest.index(after: close)...]
      portText = after.hasPrefix(":") ? after.dropFirst() : (after.isEmpty ? nil : "x")
    } else if let colon = rest.lastIndex(of: ":") {
      host = rest[..<colon]
      portText = rest[rest.index(after: colon)...]
    } else {
      host = rest
      portText = nil
    }
    guard !host.isEmpty else { return nil }
    let port: Int
    if let portText {
      guard let p = Int(portText), (0...65535).contains(p) else { return nil }
      port = p
    } else {
      port = scheme == "https" ? 443 : 80
    }
    return EndpointURL(scheme: scheme, host: String(host), port: port)
  }

  public var description: String {
    let shownHost = host.contains(":") ? "[\(host)]" : host
    return "\(scheme)://\(shownHost):\(port)"
  }
}
