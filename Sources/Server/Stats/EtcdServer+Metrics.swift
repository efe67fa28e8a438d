#if canImport(Glibc)
  import Glibc
#endif

/// `/metrics` on the client port, in Prometheus' text format: the process
/// metrics every Prometheus client exports (which `etcdctl check
/// datascale` reads) and the etcd server and backend gauges that monitoring
/// of an etcd cluster watches, under etcd's names.
extension EtcdServer {
  func metricsText() -> String {
    var text = ""
    func metric(
      _ name: String, _ type: String, _ help: String, _ value: String, labels: String = ""
    ) {
      text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name)\(labels) \(value)\n"
    }
    let mvcc = self.mvcc
    let clusterMinor = Self.clusterVersion.split(separator: ".").prefix(2).joined(separator: ".")
    metric(
      "etcd_cluster_version", "gauge",
      "Which version is running. 1 for 'cluster_version' label with current cluster version",
      "1", labels: "{cluster_version=\"\(clusterMinor)\"}")
    metric(
      "etcd_mvcc_db_total_size_in_bytes", "gauge",
      "Total size of the underlying database physically allocated in bytes.",
      "\((try? mvcc?.dbSize()) ?? 0)")
    metric(
      "etcd_mvcc_db_total_size_in_use_in_bytes", "gauge",
      "Total size of the underlying database logically in use in bytes.",
      "\((try? mvcc?.dbSizeInUse()) ?? 0)")
    metric(
      "etcd_server_has_leader", "gauge",
      "Whether or not a leader exists. 1 is existence, 0 is not.", leaderID == 0 ? "0" : "1")
    metric(
      "etcd_server_id", "gauge",
      "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
      "1", labels: "{server_id=\"\(MemberID.format(memberID))\"}")
    metric(
      "etcd_server_is_leader", "gauge",
      "Whether or not this member is a leader. 1 if is, 0 otherwise.", isLeader ? "1" : "0")
    metric(
      "etcd_server_is_learner", "gauge",
      "Whether or not this member is a learner. 1 if is, 0 otherwise.",
      members[memberID]?.isLearner == true ? "1" : "0")
    metric(
      "etcd_server_leader_changes_seen_total", "counter", "The number of leader changes seen.",
      "\(leaderChangesSeen)")
    metric(
      "etcd_server_proposals_applied_total", "gauge",
      "The total number of consensus proposals applied.",
      "\(appliedIndex)")
    metric(
      "etcd_server_proposals_committed_total", "gauge",
      "The total number of consensus proposals committed.",
      "\(driver.node.committedIndex)")
    metric(
      "etcd_server_proposals_pending", "gauge",
      "The current number of pending proposals to commit.",
      "\(waiters.count)")
    metric(
      "etcd_server_version", "gauge",
      "Which version is running. 1 for 'server_version' label with current version.",
      "1", labels: "{server_version=\"\(Self.version)\"}")
    let process = ProcessMetrics.current()
    metric(
      "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
      "\(process.cpuSeconds)")
    metric(
      "process_max_fds", "gauge", "Maximum number of open file descriptors.", "\(process.maxFDs)")
    metric("process_open_fds", "gauge", "Number of open file descriptors.", "\(process.openFDs)")
    metric(
      "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
      "\(process.residentBytes)")
    metric(
      "process_start_time_seconds", "gauge",
      "Start time of the process since unix epoch in seconds.",
      "\(process.startTimeSeconds)")
    metric(
      "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
      "\(process.virtualBytes)")
    return text
  }
}

/// This process' figures from /proc, as Prometheus' process collector
/// reads them.
struct ProcessMetrics {
  var cpuSeconds = 0.0
  var residentBytes = 0
  var virtualBytes = 0
  var startTimeSeconds = 0.0
  var openFDs = 0
  var maxFDs = 0

  static func current() -> ProcessMetrics {
    var metrics = ProcessMetrics()
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    // Fields after the parenthesised command name, which may hold spaces:
    // state is field 3 of stat(5), so field n is at index n - 3.
    if let stat = read("/proc/self/stat"), let close = stat.lastIndex(of: ")") {
      let fields = stat[stat.index(after: close)...].split(separator: " ")
      func field(_ number: Int) -> Double { Double(fields[number - 3]) ?? 0 }
      if fields.count > 21 {
        metrics.cpuSeconds = (field(14) + field(15)) / ticks
        metrics.virtualBytes = Int(field(23))
        metrics.residentBytes = Int(field(24)) * Int(sysconf(Int32(_SC_PAGESIZE)))
        let bootTime =
          read("/proc/stat")?.split(separator: "\n").first { $0.hasPrefix("btime ") }
          .flatMap { Double($0.dropFirst(6)) } ?? 0
        metrics.startTimeSeconds = bootTime + field(22) / ticks
      }
    }
    var limit = rlimit()
    if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
      metrics.maxFDs = Int(limit.rlim_cur)
    }
    if let directory = opendir("/proc/self/fd") {
      while let entry = readdir(directory) {
        if entry.pointee.d_name.0 != CChar(UInt8(ascii: ".")) { metrics.openFDs += 1 }
      }
      closedir(directory)
      // The directory's own descriptor was open while it was read.
      metrics.openFDs -= 1
    }
    return metrics
  }

  private static func read(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      let count = fread(&buffer, 1, buffer.count, file)
      if count <= 0 { break }
      bytes += buffer[..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}
