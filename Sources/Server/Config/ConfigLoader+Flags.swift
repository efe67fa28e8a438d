import Net

extension ConfigLoader {
  /// etcd 3.4's flags that swetcd honours, with etcd's usage lines.
  static let flagTable: [(String, GoFlagSet.Kind, String)] = [
    ("name", .string, "Human-readable name for this member."),
    ("data-dir", .string, "Path to the data directory."),
    ("wal-dir", .string, "Path to the dedicated wal directory."),
    ("listen-client-urls", .string, "List of URLs to listen on for client traffic."),
    ("advertise-client-urls", .string, "List of this member's client URLs to advertise."),
    ("listen-peer-urls", .string, "List of URLs to listen on for peer traffic."),
    (
      "listen-metrics-urls", .string,
      "List of URLs to listen on for the metrics and health endpoints."
    ),
    (
      "initial-advertise-peer-urls", .string,
      "List of this member's peer URLs to advertise to the rest of the cluster."
    ),
    ("initial-cluster", .string, "Initial cluster configuration for bootstrapping."),
    (
      "initial-cluster-token", .string,
      "Initial cluster token for the etcd cluster during bootstrap."
    ),
    ("initial-cluster-state", .string, "Initial cluster state ('new' or 'existing')."),
    ("heartbeat-interval", .string, "Time (in milliseconds) of a heartbeat interval."),
    ("election-timeout", .string, "Time (in milliseconds) for an election to timeout."),
    ("snapshot-count", .string, "Number of committed transactions to trigger a snapshot to disk."),
    ("max-snapshots", .string, "Maximum number of snapshot files to retain (0 is unlimited)."),
    ("max-wals", .string, "Maximum number of wal files to retain (0 is unlimited)."),
    (
      "experimental-snapshot-catchup-entries", .string,
      "Number of entries for a slow follower to catch up after compacting the raft storage entries."
    ),
    ("max-request-bytes", .string, "Maximum client request size in bytes the server will accept."),
    (
      "max-txn-ops", .string,
      "Maximum number of operations permitted in a transaction."
    ),
    ("pre-vote", .bool, "Enable to run an additional Raft election phase."),
    (
      "metrics", .string,
      "Set level of detail for exported metrics, specify 'extensive' to include server side grpc histogram metrics"
    ),
    (
      "debug", .bool,
      "Enable debug-level logging for etcd. [WARN] Will be deprecated in v3.5. Use '--log-level=debug' instead."
    ),
    (
      "experimental-compaction-batch-limit", .string,
      "Sets the maximum revisions deleted in each compaction batch."
    ),
    (
      "experimental-warning-apply-duration", .string,
      "Time duration after which a warning is generated if request takes more time."
    ),
    (
      "backend-batch-interval", .string,
      "BackendBatchInterval is the maximum time before commit the backend transaction."
    ),
    (
      "backend-batch-limit", .string,
      "BackendBatchLimit is the maximum operations before commit the backend transaction."
    ),
    (
      "quota-backend-bytes", .string,
      "Raise alarms when backend size exceeds the given quota. 0 means use the default quota."
    ),
    ("enable-v2", .bool, "Accept etcd V2 client requests."),
    (
      "experimental-watch-progress-notify-interval", .string,
      "Duration of periodic watch progress notifications."
    ),
    (
      "grpc-keepalive-min-time", .string,
      "Minimum duration interval that a client should wait before pinging server."
    ),
    (
      "grpc-keepalive-interval", .string,
      "Frequency duration of server-to-client ping to check if a connection is alive (0 to disable)."
    ),
    (
      "grpc-keepalive-timeout", .string,
      "Additional duration of wait before closing a non-responsive connection (0 to disable)."
    ),
    (
      "host-whitelist", .string,
      "Comma-separated acceptable hostnames from HTTP client requests, if server is not secure (empty means allow all)."
    ),
    (
      "max-concurrent-streams", .string,
      "Maximum concurrent streams that each client can open at a time."
    ),
    (
      "cors", .string,
      "Comma-separated white list of origins for CORS, or cross-origin resource sharing, (empty or * means allow all)."
    ),
    (
      "auto-compaction-retention", .string,
      "Auto compaction retention for mvcc key value store. 0 means disable auto compaction."
    ),
    (
      "auto-compaction-mode", .string,
      "interpret 'auto-compaction-retention' one of: periodic|revision. 'periodic' for duration based retention, defaulting to hours if no time unit is provided (e.g. '5m'). 'revision' for revision number based retention."
    ),
    (
      "strict-reconfig-check", .bool,
      "Reject reconfiguration requests that would cause quorum loss."
    ),
    ("logger", .string, "Currently only supports 'zap' for structured logging."),
    (
      "log-level", .string,
      "Configures log level. Only supports debug, info, warn, error, panic, or fatal."
    ),
    (
      "log-outputs", .string,
      "Specify 'stdout' or 'stderr' to skip journald logging even when running under systemd."
    ),
    ("config-file", .string, "Path to the server configuration file."),
    ("version", .bool, "Print the version and exit."),
    ("help", .bool, "Show this help."),
    ("h", .bool, "Show this help."),
  ]

  /// Flags whose value is a Go duration ("5s", "2h").
  static let durationFlags: Set<String> = [
    "experimental-watch-progress-notify-interval", "experimental-warning-apply-duration",
    "backend-batch-interval", "grpc-keepalive-min-time", "grpc-keepalive-interval",
    "grpc-keepalive-timeout",
  ]

  /// Sets one flag's value on `config`, refusing values etcd refuses.
  static func apply(_ name: String, _ value: String, to config: inout ServerConfig)
    throws(ConfigError)
  {
    func urls() throws(ConfigError) -> [EndpointURL] {
      let parts = value.split(separator: ",").map { String($0.trimmingSpaces()) }.filter {
        !$0.isEmpty
      }
      var result: [EndpointURL] = []
      for part in parts {
        guard let url = EndpointURL.parse(part) else {
          throw .invalid(
            flag: name, value: value, reason: "URL \"\(part)\" must be http(s)://host:port")
        }
        result.append(url)
      }
      guard !result.isEmpty else {
        throw .invalid(flag: name, value: value, reason: "no URL given")
      }
      return result
    }
    func positive() throws(ConfigError) -> Int {
      guard let n = Int(value), n > 0 else {
        throw .invalid(flag: name, value: value, reason: "must be a positive integer")
      }
      return n
    }
    func milliseconds() throws(ConfigError) -> UInt64 {
      guard let nanoseconds = GoDuration.nanoseconds(value) else {
        throw .invalid(flag: name, value: value, reason: "parse error")
      }
      return nanoseconds > 0 ? UInt64(nanoseconds / 1_000_000) : 0
    }
    func unsigned() throws(ConfigError) -> Int {
      guard let n = Int(value), n >= 0 else {
        throw .invalid(flag: name, value: value, reason: "must be a non-negative integer")
      }
      return n
    }
    func bool() throws(ConfigError) -> Bool {
      guard let flag = GoFlagSet.parseBool(value) else {
        throw .invalid(flag: name, value: value, reason: "parse error")
      }
      return flag
    }
    switch name {
    case "name": config.name = value
    case "data-dir": config.dataDir = value
    case "wal-dir": config.walDir = value
    case "listen-client-urls": config.listenClientURLs = try urls()
    case "advertise-client-urls": config.advertiseClientURLs = try urls()
    case "listen-peer-urls": config.listenPeerURLs = try urls()
    case "listen-metrics-urls": config.listenMetricsURLs = try urls()
    case "initial-advertise-peer-urls": config.initialAdvertisePeerURLs = try urls()
    case "initial-cluster": config.initialCluster = try parseInitialCluster(value)
    case "initial-cluster-token": config.initialClusterToken = value
    case "initial-cluster-state":
      guard let state = ServerConfig.ClusterState(rawValue: value) else {
        throw .invalid(flag: name, value: value, reason: "valid values include 'new', 'existing'")
      }
      config.initialClusterState = state
    case "heartbeat-interval": config.heartbeatInterval = try positive()
    case "election-timeout": config.electionTimeout = try positive()
    case "snapshot-count": config.snapshotCount = UInt64(try positive())
    case "max-snapshots": config.maxSnapshots = try unsigned()
    case "experimental-compaction-batch-limit": config.compactionBatchLimit = try positive()
    case "experimental-warning-apply-duration":
      guard let nanoseconds = GoDuration.nanoseconds(value) else {
        throw .invalid(flag: name, value: value, reason: "parse error")
      }
      config.warningApplyDurationNs = nanoseconds
    // 0 keeps etcd's defaults for both.
    case "backend-batch-interval":
      let ms = try milliseconds()
      config.backendBatchIntervalMs = ms == 0 ? 100 : ms
    case "backend-batch-limit":
      let limit = try unsigned()
      config.backendBatchLimit = limit == 0 ? 10_000 : limit
    case "max-wals": config.maxWALs = try unsigned()
    case "experimental-snapshot-catchup-entries":
      config.snapshotCatchUpEntries = UInt64(try positive())
    case "max-request-bytes": config.maxRequestBytes = try positive()
    case "max-txn-ops": config.maxTxnOps = try positive()
    case "pre-vote": config.preVote = try bool()
    case "metrics":
      guard value == "basic" || value == "extensive" else {
        throw .invalid(flag: name, value: value, reason: "unknown metrics level")
      }
      config.metrics = value
    case "debug": if try bool() { config.logLevel = "debug" }
    case "quota-backend-bytes":
      guard let n = Int64(value), n >= 0 else {
        throw .invalid(flag: name, value: value, reason: "must be a non-negative integer")
      }
      config.quotaBackendBytes = n
    case "enable-v2": config.enableV2 = try bool()
    case "experimental-watch-progress-notify-interval":
      config.watchProgressNotifyIntervalMs = try milliseconds()
    case "grpc-keepalive-min-time": config.grpcKeepaliveMinTimeMs = try milliseconds()
    case "grpc-keepalive-interval": config.grpcKeepaliveIntervalMs = try milliseconds()
    case "grpc-keepalive-timeout": config.grpcKeepaliveTimeoutMs = try milliseconds()
    case "host-whitelist":
      let hosts = value.split(separator: ",").map { String($0.trimmingSpaces()) }.filter {
        !$0.isEmpty
      }
      config.hostWhitelist = hosts.contains("*") ? [] : hosts
    case "max-concurrent-streams":
      guard let limit = UInt32(value), limit > 0 else {
        throw .invalid(flag: name, value: value, reason: "must be a positive 32-bit integer")
      }
      config.maxConcurrentStreams = limit == .max ? nil : limit
    case "cors":
      var origins: [String] = []
      for part in value.split(separator: ",").map({ String($0.trimmingSpaces()) }) {
        if part == "*" {
          config.corsOrigins = []
          return
        }
        // etcd takes origins as URLs with a port, and compares them whole.
        let authority = part.split(separator: "/", omittingEmptySubsequences: true).dropFirst()
          .first
        guard EndpointURL.parse(part) != nil, authority?.contains(":") == true else {
          throw .invalid(
            flag: name, value: value,
            reason: "URL address does not have the form \"host:port\": \(part)")
        }
        origins.append(part)
      }
      config.corsOrigins = origins
    case "auto-compaction-retention": config.autoCompactionRetention = value
    case "auto-compaction-mode":
      guard value == "periodic" || value == "revision" else {
        throw .flags("unknown auto-compaction-mode \"\(value)\"")
      }
      config.autoCompactionMode = value
    case "strict-reconfig-check": config.strictReconfigCheck = try bool()
    case "logger":
      guard value == "zap" || value == "capnslog" else {
        throw .invalid(flag: name, value: value, reason: "valid values include 'zap'")
      }
      config.logger = value
    case "log-level":
      guard ["debug", "info", "warn", "error", "panic", "fatal"].contains(value) else {
        throw .invalid(flag: name, value: value, reason: "unknown log level")
      }
      config.logLevel = value
    case "log-outputs":
      config.logOutputs = value.split(separator: ",").map { String($0.trimmingSpaces()) }
    default:
      preconditionFailure("flag -\(name) is defined but not applied")
    }
  }

  /// `name1=http://a:2380,name2=http://b:2380`; a name may repeat for a
  /// member with several peer URLs.
  static func parseInitialCluster(_ value: String) throws(ConfigError) -> [InitialMember] {
    var members: [InitialMember] = []
    for pair in value.split(separator: ",") {
      let trimmed = pair.trimmingSpaces()
      guard let eq = trimmed.firstIndex(of: "="), eq != trimmed.startIndex,
        let url = EndpointURL.parse(String(trimmed[trimmed.index(after: eq)...]))
      else {
        throw .invalid(
          flag: "initial-cluster", value: value,
          reason: "each member must be name=http(s)://host:port")
      }
      members.append(InitialMember(name: String(trimmed[..<eq]), url: url))
    }
    return members
  }
}

extension ConfigLoader {
  /// The usage text: every flag with its etcd description.
  public static var usage: String {
    var lines = ["Usage:", "", "  swetcd [flags]", "", "Flags:"]
    for (name, kind, usage) in flagTable where name != "h" {
      lines.append("  --\(name)\(kind == .bool ? "" : " <value>")")
      lines.append("      \(usage)")
    }
    return lines.joined(separator: "\n")
  }
}
