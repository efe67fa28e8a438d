import Testing

@testable import Server

@Suite("Configuration from flags, ETCD_* variables and the config file")
struct ConfigTests {
  func load(_ arguments: [String], env: [String: String] = [:], file: String = "")
    throws(ConfigError)
    -> LoadedConfig
  {
    try ConfigLoader.load(arguments: arguments, environment: env, readFile: { _ in file })
  }

  @Test("no flags give etcd's defaults")
  func defaults() throws {
    let config = try load([]).config
    #expect(config.name == "default")
    #expect(config.effectiveDataDir == "default.etcd")
    #expect(config.effectiveWALDir == "default.etcd/member/wal")
    #expect(config.listenClientURLs.map(\.description) == ["http://localhost:2379"])
    #expect(config.listenPeerURLs.map(\.description) == ["http://localhost:2380"])
    #expect(config.effectiveInitialCluster.map(\.name) == ["default"])
    #expect(config.heartbeatInterval == 100 && config.electionTimeout == 1000)
    #expect(config.maxRequestBytes == 1_572_864)
    #expect(config.enableV2)
    #expect(config.strictReconfigCheck)
    #expect(config.watchProgressNotifyIntervalMs == 0)
  }

  @Test("durations as Go's time.ParseDuration reads them")
  func durations() throws {
    #expect(GoDuration.nanoseconds("200ms") == 200_000_000)
    #expect(GoDuration.nanoseconds("1.5s") == 1_500_000_000)
    #expect(GoDuration.nanoseconds("1m30s") == 90_000_000_000)
    #expect(GoDuration.nanoseconds("10m") == 600_000_000_000)
    #expect(GoDuration.nanoseconds("2h45m") == 9_900_000_000_000)
    #expect(GoDuration.nanoseconds("0") == 0)
    #expect(GoDuration.nanoseconds("-3us") == -3000)
    for bad in ["", "10", "ms", "1x", "1.2.3s", "s1"] {
      #expect(GoDuration.nanoseconds(bad) == nil, "\(bad)")
    }
    let config = try load([
      "--experimental-watch-progress-notify-interval=1m", "--strict-reconfig-check=false",
    ]).config
    #expect(config.watchProgressNotifyIntervalMs == 60_000 && !config.strictReconfigCheck)
    #expect(throws: ConfigError.self) {
      try load(["--experimental-watch-progress-notify-interval", "soon"])
    }
  }

  @Test("auto compaction: etcd's readings of the retention, and its refusals")
  func autoCompaction() throws {
    func mode(_ arguments: String...) throws -> AutoCompactor.Mode? {
      try load(arguments).config.autoCompaction()
    }
    #expect(try mode() == nil)
    #expect(try mode("--auto-compaction-retention=0") == nil)
    #expect(try mode("--auto-compaction-retention=1") == .periodic(periodMs: 3_600_000))
    #expect(try mode("--auto-compaction-retention=30m") == .periodic(periodMs: 1_800_000))
    #expect(
      try mode("--auto-compaction-mode=revision", "--auto-compaction-retention=1000")
        == .revision(retain: 1000))
    #expect(throws: ConfigError.flags("unknown auto-compaction-mode \"foo\"")) {
      try load(["--auto-compaction-mode=foo"])
    }
    #expect(throws: ConfigError.self) { try mode("--auto-compaction-retention=abc") }
  }

  @Test("gRPC keepalive: etcd's defaults, flags and a config file's nanoseconds")
  func grpcKeepalive() throws {
    let defaults = try load([]).config
    #expect(
      [
        defaults.grpcKeepaliveMinTimeMs, defaults.grpcKeepaliveIntervalMs,
        defaults.grpcKeepaliveTimeoutMs,
      ] == [5_000, 7_200_000, 20_000])
    let flags = try load([
      "--grpc-keepalive-min-time=1s", "--grpc-keepalive-interval", "30m",
      "--grpc-keepalive-timeout=500ms",
    ]).config
    #expect(
      [flags.grpcKeepaliveMinTimeMs, flags.grpcKeepaliveIntervalMs, flags.grpcKeepaliveTimeoutMs]
        == [1_000, 1_800_000, 500])
    let file = try load(
      ["--config-file", "f"],
      file: "grpc-keepalive-min-time: 2000000000\ngrpc-keepalive-timeout: 3s\n"
    ).config
    #expect(file.grpcKeepaliveMinTimeMs == 2_000 && file.grpcKeepaliveTimeoutMs == 3_000)
    #expect(throws: ConfigError.self) { try load(["--grpc-keepalive-interval", "often"]) }
  }

  @Test(
    "every spelling Go's flag package accepts sets the flag",
    arguments: [
      ["-name", "m1"], ["--name", "m1"], ["-name=m1"], ["--name=m1"],
    ])
  func spellings(arguments: [String]) throws {
    #expect(try load(arguments).config.name == "m1")
  }

  @Test("the clustering guide's command line")
  func guideCommandLine() throws {
    let config = try load([
      "-name", "infra0", "-initial-advertise-peer-urls", "http://10.0.1.10:2380",
      "-listen-peer-urls", "http://10.0.1.10:2380", "-listen-client-urls",
      "http://10.0.1.10:2379,http://127.0.0.1:2379", "-advertise-client-urls",
      "http://10.0.1.10:2379", "-initial-cluster-token", "etcd-cluster-1", "-initial-cluster",
      "infra0=http://10.0.1.10:2380,infra1=http://10.0.1.11:2380,infra2=http://10.0.1.12:2380",
      "-initial-cluster-state", "new",
    ]).config
    #expect(config.name == "infra0")
    #expect(config.listenClientURLs.count == 2)
    #expect(config.initialCluster.map(\.name) == ["infra0", "infra1", "infra2"])
    #expect(config.initialCluster[2].url == EndpointURL.parse("http://10.0.1.12:2380"))
    #expect(config.initialClusterToken == "etcd-cluster-1")
  }

  @Test("booleans take no separate value, as in Go")
  func booleans() throws {
    #expect(try load(["-enable-v2=false"]).config.enableV2 == false)
    #expect(try load(["--enable-v2"]).config.enableV2)
    #expect(throws: ConfigError.flags("'false' is not a valid flag")) {
      try load(["-enable-v2", "false"])
    }
  }

  @Test("max-txn-ops, pre-vote, metrics, debug, max-snapshots and max-wals, as etcd 3.4 takes them")
  func tuningFlags() throws {
    let config = try load([
      "--max-txn-ops=256", "--pre-vote=false", "--metrics=extensive", "--debug",
    ]).config
    #expect(config.maxTxnOps == 256)
    #expect(config.preVote == false)
    #expect(config.metrics == "extensive")
    #expect(config.logLevel == "debug")
    #expect(try load([], env: ["ETCD_MAX_TXN_OPS": "64"]).config.maxTxnOps == 64)
    #expect(throws: ConfigError.self) { try load(["--metrics=all"]) }
    #expect(throws: ConfigError.self) { try load(["--max-txn-ops=0"]) }
    let retention = try load(["--max-snapshots=0", "--max-wals", "2"]).config
    #expect(retention.maxSnapshots == 0 && retention.maxWALs == 2)
    #expect(try load([]).config.maxSnapshots == 5)
    #expect(throws: ConfigError.self) { try load(["--max-wals=-1"]) }
    #expect(try load([]).config.compactionBatchLimit == 1000)
    #expect(
      try load(["--experimental-compaction-batch-limit=10"]).config.compactionBatchLimit == 10)
    #expect(
      try load(["--cors=http://a.com:80, https://b.com:8443"]).config.corsOrigins == [
        "http://a.com:80", "https://b.com:8443",
      ])
    #expect(try load(["--cors=http://a.com:80,*"]).config.corsOrigins == [])
    #expect(
      throws: ConfigError.invalid(
        flag: "cors", value: "http://a.com",
        reason: "URL address does not have the form \"host:port\": http://a.com")
    ) { try load(["--cors=http://a.com"]) }
    let batch = try load(["--backend-batch-interval=10ms", "--backend-batch-limit=100"]).config
    #expect(batch.backendBatchIntervalMs == 10 && batch.backendBatchLimit == 100)
    let defaults = try load(["--backend-batch-interval=0", "--backend-batch-limit=0"]).config
    #expect(defaults.backendBatchIntervalMs == 100 && defaults.backendBatchLimit == 10_000)
  }

  @Test(
    "bad command lines are refused with etcd's words",
    arguments: [
      (["-bogus"], "flag provided but not defined: -bogus"),
      (["-name"], "flag needs an argument: -name"),
      (["-name", "a", "extra"], "'extra' is not a valid flag"),
      (["-enable-v2=maybe"], "invalid boolean value \"maybe\" for -enable-v2: parse error"),
    ])
  func badCommandLines(arguments: [String], message: String) {
    #expect(throws: ConfigError.flags(message)) { try load(arguments) }
  }

  @Test("bad values are refused")
  func badValues() {
    #expect(throws: ConfigError.self) { try load(["-listen-client-urls", "localhost:2379"]) }
    #expect(throws: ConfigError.self) { try load(["-heartbeat-interval", "abc"]) }
    #expect(throws: ConfigError.self) { try load(["-initial-cluster-state", "maybe"]) }
    #expect(throws: ConfigError.self) { try load(["-initial-cluster", "nourl"]) }
  }

  @Test("ETCD_* variables set flags not given, and a conflict is an error")
  func environment() throws {
    let loaded = try load(
      ["-name", "a"], env: ["ETCD_DATA_DIR": "/tmp/x", "ETCD_FOO": "1", "HOME": "/root"])
    #expect(loaded.config.dataDir == "/tmp/x")
    #expect(
      loaded.notices.contains("recognized and used environment variable ETCD_DATA_DIR=/tmp/x"))
    #expect(loaded.notices.contains("unrecognized environment variable ETCD_FOO=1"))
    #expect(throws: ConfigError.environmentConflict("ETCD_NAME")) {
      try load(["-name", "a"], env: ["ETCD_NAME": "b"])
    }
    #expect(try load([], env: ["ETCD_ENABLE_V2": "false"]).config.enableV2 == false)
  }

  @Test("a config file decides alone: flags and variables are ignored")
  func configFile() throws {
    let yaml = """
      name: infra1
      data-dir: /var/lib/etcd
      listen-client-urls: http://127.0.0.1:12379
      listen-peer-urls: [http://127.0.0.1:12380]
      initial-cluster: infra1=http://127.0.0.1:12380
      initial-cluster-state: existing
      heartbeat-interval: 50
      enable-v2: false
      unknown-key: ignored
      """
    let config = try load(
      ["--config-file", "/etc/etcd.yml", "-name", "other"], env: ["ETCD_DATA_DIR": "/x"], file: yaml
    ).config
    #expect(config.name == "infra1")
    #expect(config.dataDir == "/var/lib/etcd")
    #expect(config.listenPeerURLs.map(\.description) == ["http://127.0.0.1:12380"])
    #expect(config.initialClusterState == .existing)
    #expect(config.heartbeatInterval == 50)
    #expect(config.enableV2 == false)
    #expect(throws: ConfigError.self) {
      try load(["--config-file", "f"], file: "heartbeat-interval: fast")
    }
  }

  @Test("URLs: IPv6, default ports, junk")
  func urls() {
    #expect(EndpointURL.parse("http://[::1]:2379")?.host == "::1")
    #expect(EndpointURL.parse("http://[::1]:2379")?.description == "http://[::1]:2379")
    #expect(EndpointURL.parse("https://example.com")?.port == 443)
    #expect(EndpointURL.parse("http://h:2379/")?.port == 2379)
    #expect(EndpointURL.parse("ftp://h:1") == nil)
    #expect(EndpointURL.parse("http://h:99999") == nil)
    #expect(EndpointURL.parse("http://h:2379/path") == nil)
  }
}
