import Foundation
import Testing

/// The same `ETCDCTL_API=3 etcdctl` commands, in the same order, against a
/// fresh etcd 3.4.23 and a fresh swetcd member: each command's stdout,
/// stderr and exit status must be etcd's once what differs by design is
/// replaced (ids, terms, raft indexes, db sizes, ports, durations, log
/// times; docs/api.md says why each differs).
@Suite("etcdctl v3 outputs equal etcd 3.4.23's", .serialized)
struct EtcdctlV3DifferentialTests {
  @Test("put, get, del, txn, compaction, endpoint, defrag and member commands print etcd's outputs")
  func sameOutputs() throws {
    try Harness.withReferenceAndMember { reference, member in
      let etcd = try CtlEndpoint(clientPort: reference.clientPort, peerPort: reference.peerPort)
      let swetcd = try CtlEndpoint(clientPort: member.clientPort, peerPort: member.peerPort)
      let start = Date()
      var differing = 0
      for (number, step) in Self.script.enumerated() {
        let (want, got) = (etcd.run(step), swetcd.run(step))
        guard want != got else { continue }
        differing += 1
        var report = "step \(number + 1): etcdctl \(step.command)\n"
        if let input = step.input { report += "stdin: \(input.debugDescription)\n" }
        Issue.record(Comment(rawValue: report + "(- etcd 3.4.23, + swetcd)\n" + diff(want, got)))
      }
      print(
        "etcdctl v3 differential: \(Self.script.count) commands compared in "
          + String(format: "%.1f s", Date().timeIntervalSince(start))
          + ", \(differing) outputs differ")
    }
  }

  static let script: [CtlStep] =
    fresh + puts + gets + sorting + deletes + txns + compaction + maintenance

  /// Before any write: both stores are at revision 1.
  static let fresh: [CtlStep] = [
    "get foo", "get foo -w json", "get foo --rev=1", "get foo --rev=2", "member list",
    "member list -w table", "member list -w json",
    "member list -w fields", "endpoint status", "endpoint status -w json",
    "endpoint status -w table", "endpoint status -w fields", "endpoint health",
    "endpoint health -w json", "endpoint health -w table", "endpoint hashkv",
    "endpoint hashkv -w json",
  ]

  static let puts: [CtlStep] = [
    "put foo bar", "put foo bar2 --prev-kv", "put foo bar3 --prev-kv -w json",
    "put foo bar4 -w fields", "put foo bar5 -w protobuf", "put foo x --lease=1234",
    "put foo x --lease=zz", "put foo --ignore-value", "put foo x --ignore-value",
    "put foo --ignore-value --prev-kv -w json", "put foo --ignore-lease",
    CtlStep("put foo --ignore-lease", input: "from stdin"), "put nokey --ignore-value",
    "put nokey v --ignore-lease", "put '' x", "put", "put a b c",
    CtlStep("put sk", input: "line one\nline two\n"), "get sk -w json", "get sk",
    "put 'sp ace' 'va lue'", "get 'sp ace'", "put ключ значение", "get ключ -w json",
    "get ключ --hex", #"put "$(printf 'b\377\001')" "$(printf 'v\001\376')""#,
    #"get "$(printf 'b\377')" --prefix"#, #"get "$(printf 'b\377')" --prefix --hex"#,
    #"get "$(printf 'b\377')" --prefix -w json"#, #"get "$(printf 'b\377')" --prefix -w fields"#,
  ]

  static let gets: [CtlStep] = [
    "get foo", "get foo -w simple", "get foo -w json", "get foo -w fields", "get foo -w table",
    "get foo -w protobuf", "get foo -w yaml", "get nothing", "get nothing -w json",
    "get nothing -w fields", "get foo --hex", "get foo --hex -w json", "get foo --hex -w fields",
    "get foo --keys-only", "get foo --keys-only -w json", "get foo --print-value-only",
    "get foo --print-value-only -w json", "get foo --count-only", "get foo --consistency=l",
    "get foo --consistency=s -w json", "get foo --consistency=x", "get foo --rev=0",
    "get foo --rev=2", "get foo --rev=3 -w json", "get foo --rev=-1", "get foo --rev=1",
    "get foo --rev=7", "get foo --rev=14 -w json", "get foo --rev=15", "get foo --rev=1000",
    "get foo --rev=1000 -w json", "get foo --rev=x",
    "get", "get a b c", "get '' --prefix --keys-only", "get '' --from-key -w json",
    "get f --from-key --limit=2", "get f --from-key --limit=2 -w json", "get foo --prefix",
    "get f g", "get f g -w fields", "get g f", "get foo foo", "get foo --prefix --from-key",
    "get a b --prefix", "get a --limit=-1", "get s --from-key --rev=20",
  ]

  /// Ties on version, value and mod revision keep key order both ways.
  static let sorting: [CtlStep] = [
    "put k/a va", "put k/b vb", "put k/c vc", "put k/d vd", "put k/e ve", "put k/f vb",
    "put k/c zz", "put k/a vA", "get k/ --prefix --sort-by=CREATE",
    "get k/ --prefix --sort-by=CREATE --order=DESCEND", "get k/ --prefix --sort-by=KEY",
    "get k/ --prefix --sort-by=KEY --order=DESCEND -w json",
    "get k/ --prefix --sort-by=MODIFY --order=DESCEND",
    "get k/ --prefix --sort-by=MODIFY --order=ASCEND --keys-only",
    "get k/ --prefix --sort-by=VALUE", "get k/ --prefix --sort-by=VALUE --order=DESCEND",
    "get k/ --prefix --sort-by=VERSION", "get k/ --prefix --sort-by=VERSION --order=DESCEND",
    "get k/ --prefix --order=DESCEND", "get k/ --prefix --order=ASCEND --limit=2 -w json",
    "get k/ --prefix --sort-by=VERSION --order=DESCEND --limit=3 -w json",
    "get k/ --prefix --sort-by=VALUE --limit=2 -w fields", "get k/ --prefix --limit=2 -w fields",
    "get k/ --prefix --sort-by=x", "get k/ --prefix --order=x", "get k/b k/e --order=DESCEND",
    "get k/b --from-key --limit=3 --keys-only", "get k/ --prefix --print-value-only",
    "get k/ --prefix --rev=12 -w json", "get k/ --prefix --limit=1 --rev=14 --consistency=s",
    "get k/ --prefix --limit=6 -w json", "get k/ --prefix --limit=5 --keys-only -w json",
    "get k/ --prefix --keys-only --hex", "get k/ --prefix --print-value-only --hex",
  ]

  static let deletes: [CtlStep] = [
    "del nothing", "del nothing -w json", "del k/a --prev-kv", "del k/a --prev-kv -w json",
    "del k/b k/d --prev-kv -w json", "del k/d k/b", "del k/ --prefix", "del k/ --prefix -w json",
    "put k/x 1", "put k/y 2", "del k/x --from-key --prev-kv", "del ''", "del", "del a b c",
    "del a --prefix --from-key", "del a b --prefix", "get '' --prefix --keys-only",
    // Deleted keys read at a revision before their deletion.
    "get k/ --prefix --rev=22 -w json", "get k/a --rev=23", "get k/ --prefix --rev=24 --count-only",
    "get k/ --prefix --rev=25 --limit=1 -w fields",
  ]

  static let txns: [CtlStep] = [
    "put t1 a", "put t2 b",
    .txn("", #"value("t1") = "a""#, "", "put t1 A", "get t2", "", "put t1 no", ""),
    .txn("-w json", #"value("t1") = "a""#, "", "put t1 B", "", "put t1 no", "del t2", ""),
    .txn(
      "-w json", #"version("t1") = "3""#, #"value("t2") != "x""#, "", "get t --prefix", "", ""),
    .txn(
      "", #"create("t1") < "100""#, #"mod("t2") > "1""#, "", "put t3 c", "del t2 --prev-kv",
      "", "get t1", ""),
    .txn("", #"mod("t1") = "0""#, "", "", "get t --prefix --limit=1", ""),
    .txn("-w json", #"mod("t1") = "0""#, "", "", "get t --prefix --limit=1 --rev=3", ""),
    .txn("-w fields", #"version("none") = "0""#, "", "put t4 d --prev-kv", "put t5 e", "", ""),
    .txn("-w protobuf", #"value("t4") = "d""#, "", "put t4 e", "get t4", "", ""),
    .txn("-w json", #"value("none") = """#, "", "", "del none", "get none", ""),
    .txn("-w json", #"value("t1") > "A""#, "", "", "put t8 y", ""),
    .txn("-w json", "", "del t5 --prev-kv", "del none", "put t9 z", "get t --prefix", "", ""),
    .txn("", #"value("t1") = "B""#, "", "put t1 x", "put t1 y", "", ""),
    .txn("", #"value("t1") = "B""#, "", "put t1 x", "del t1", "", ""),
    .txn("", "", "del t --prefix", "put t1 x", "", ""),
    .txn("", "bogus", "", "", ""), .txn("", "", "foo bar", "", ""), .txn("", "", "put", "", ""),
    .txn("", #"create("t1") = "a""#, "", "", ""), .txn("", "", "", ""),
    .txn("", "", "put t6 x --lease=99", "", ""), .txn("", "", "put t6 --ignore-value", "", ""),
    .txn("", "", "put t9 1", "put '' x", "", ""), .txn("-w json", "", "get t --prefix", "", ""),
    .txn("-w json", "", "del t --prefix --prev-kv", "", ""), "txn -i",
    // A range that fails its revision check refuses the whole txn, writes
    // included; a put's failure is reported before a range's.
    .txn("", "", "put t1 y", "get t1 --rev=1000", "", ""),
    .txn("", "", "get t1 --rev=1000", "put t1 y --lease=99", "", ""), "get t1 -w json",
  ]

  /// Revisions 2 ... 37 exist by now.
  static let compaction: [CtlStep] = [
    "compaction 5", "compaction 5", "compaction 3", "compaction 1000", "compaction 0",
    "compaction x", "compaction", "compaction --physical 8", "compaction --physical 9 -w json",
    "get foo --rev=8", "get foo --rev=9", "get foo --rev=9 -w json", "get foo --rev=1",
    "get k/ --prefix --rev=7 --consistency=s", "del nothing --prev-kv",
    .txn("", "", "get foo --rev=4", "", ""), .txn("", "", "put t1 z", "get foo --rev=4", "", ""),
    "get t1 -w json", .txn("-w json", "", "get foo --rev=9", "", ""),
    "endpoint hashkv -w json", "endpoint hashkv --rev=9", "endpoint hashkv --rev=4",
    "endpoint hashkv --rev=1000",
  ]

  static let maintenance: [CtlStep] = [
    "defrag", "defrag -w json", "endpoint hashkv", "endpoint hashkv -w json",
    "endpoint hashkv -w table", "endpoint hashkv -w fields", "endpoint status -w json",
    "endpoint status -w table", "endpoint status -w fields", "endpoint status --cluster",
    "endpoint health --cluster", "member list -w json", "member list -w fields", "get foo",
  ]
}

/// One etcdctl command line: its words as sh reads them (so quoting and
/// `$(printf ...)` for binary keys work), and what it reads on stdin.
struct CtlStep: ExpressibleByStringLiteral, Sendable {
  let command: String
  var input: String?

  init(_ command: String, input: String? = nil) {
    self.command = command
    self.input = input
  }

  init(stringLiteral command: String) {
    self.init(command)
  }

  /// `etcdctl txn FLAGS` reading `lines`: the compares, a blank line, the
  /// success ops, a blank line, the failure ops, a blank line.
  static func txn(_ flags: String, _ lines: String...) -> CtlStep {
    CtlStep("txn " + flags, input: lines.joined(separator: "\n") + "\n")
  }

  var isProtobuf: Bool { command.contains("-w protobuf") }
}

/// One server as etcdctl sees it, and the values of its own that stand for
/// each other in the two servers' outputs.
struct CtlEndpoint {
  let clientPort: Int
  private(set) var ownValues: [(String, String)]

  init(clientPort: Int, peerPort: Int) throws {
    self.clientPort = clientPort
    ownValues = [
      ("127.0.0.1:\(clientPort)", "<client address>"), ("127.0.0.1:\(peerPort)", "<peer address>"),
    ]
    let listing = String(decoding: execute(CtlStep("member list -w json")).stdout, as: UTF8.self)
    let clusterID = try #require(
      listing.firstMatch(of: /"cluster_id":([0-9]+)/).flatMap { UInt64($0.1) }, "\(listing)")
    let memberID = try #require(
      listing.firstMatch(of: /"member_id":([0-9]+)/).flatMap { UInt64($0.1) }, "\(listing)")
    // Decimal in JSON and fields, hex in the simple and table formats.
    ownValues += [
      (String(clusterID), "<cluster ID>"), (String(clusterID, radix: 16), "<cluster ID>"),
      (String(memberID), "<member ID>"), (String(memberID, radix: 16), "<member ID>"),
    ]
  }

  /// What etcdctl printed for `step`, normalized, with its exit status.
  func run(_ step: CtlStep) -> String {
    let output = execute(step)
    let stdout = step.isProtobuf ? protobufText(output.stdout) : printable(output.stdout)
    var text = normalized(stdout)
    let stderr = normalized(printable(output.stderr))
    if !stderr.isEmpty { text += "\n--- stderr\n" + stderr }
    return text + "\n--- exit \(output.status)"
  }

  private func execute(_ step: CtlStep) -> (stdout: [UInt8], stderr: [UInt8], status: Int32) {
    let base = "/tmp/swetcd-ctl-" + UUID().uuidString
    let paths = (stdout: base + ".out", stderr: base + ".err", stdin: base + ".in")
    defer { for path in [paths.stdout, paths.stderr, paths.stdin] { unlink(path) } }
    // Files, not pipes: see Harness.run.
    for path in [paths.stdout, paths.stderr] { fclose(fopen(path, "w")) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", "exec etcdctl " + step.command]
    var environment = ProcessInfo.processInfo.environment
    environment["ETCDCTL_API"] = "3"
    environment["ETCDCTL_ENDPOINTS"] = "http://127.0.0.1:\(clientPort)"
    process.environment = environment
    process.standardOutput = FileHandle(forWritingAtPath: paths.stdout)
    process.standardError = FileHandle(forWritingAtPath: paths.stderr)
    if let input = step.input {
      _ = FileManager.default.createFile(atPath: paths.stdin, contents: Data(input.utf8))
      process.standardInput = FileHandle(forReadingAtPath: paths.stdin)
    } else {
      process.standardInput = FileHandle.nullDevice
    }
    guard (try? process.run()) != nil else { return ([], Array("cannot run etcdctl".utf8), -1) }
    let deadline = Date().addingTimeInterval(10)
    while process.isRunning && Date() < deadline { usleep(2_000) }
    if process.isRunning {
      process.terminate()
      process.waitUntilExit()
    }
    func read(_ path: String) -> [UInt8] {
      FileManager.default.contents(atPath: path).map { Array($0) } ?? []
    }
    return (read(paths.stdout), read(paths.stderr), process.terminationStatus)
  }

  /// `text` with this server's own values and what is measured rather than
  /// stored replaced by placeholders.
  func normalized(_ text: String) -> String {
    var text = ownValues.reduce(text) { $0.replacingOccurrences(of: $1.0, with: $1.1) }
    // Terms, raft indexes and db sizes: JSON, then fields, then simple.
    text.replace(/"(raft_term|raftTerm|raftIndex|raftAppliedIndex|dbSize|dbSizeInUse)":[0-9]+/) {
      "\"\($0.output.1)\":<\($0.output.1)>"
    }
    text.replace(/"(RaftTerm|RaftIndex|RaftAppliedIndex|DBSize|DBSizeInUse)" : [0-9]+/) {
      "\"\($0.output.1)\" : <\($0.output.1)>"
    }
    text.replace(
      #/(?m)^([^,\n]+, [^,\n]+, [^,\n]+), [^,\n]+, (true|false), (true|false), [0-9]+, [0-9]+, [0-9]+, /#
    ) { "\($0.output.1), <db size>, \($0.output.2), \($0.output.3), <term>, <index>, <index>, " }
    text.replace(/took = [0-9.]+[a-zµ]*s/, with: "took = <duration>")
    text.replace(/"took":"[^"]*"/, with: "\"took\":\"<duration>\"")
    // etcdctl's own log lines: when, and its client's random name.
    text.replace(/"ts":"[^"]*"/, with: "\"ts\":\"<time>\"")
    text.replace(/client-[0-9a-f-]{36}/, with: "client-<uuid>")
    return tables(text)
  }

  /// Table cells of the columns whose values are measured replaced, and
  /// the padding (whose width follows the widest cell) dropped.
  private func tables(_ text: String) -> String {
    let measured: Set = ["DB SIZE", "RAFT TERM", "RAFT INDEX", "RAFT APPLIED INDEX", "TOOK"]
    var header: [String] = []
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
      if line.hasPrefix("+-") { return "+-+" }
      guard line.hasPrefix("|") else {
        header = []
        return String(line)
      }
      let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst()
        .dropLast().map { $0.trimmingCharacters(in: .whitespaces) }
      if header.isEmpty {
        header = cells
        return "| " + cells.joined(separator: " | ") + " |"
      }
      let kept = cells.enumerated().map { column, cell in
        column < header.count && measured.contains(header[column])
          ? "<\(header[column].lowercased())>" : cell
      }
      return "| " + kept.joined(separator: " | ") + " |"
    }
    return lines.joined(separator: "\n")
  }
}

/// `bytes` as text; bytes that are not UTF-8 as `\xNN`, so binary keys and
/// values compare byte for byte.
private func printable(_ bytes: [UInt8]) -> String {
  if let text = String(validating: bytes, as: UTF8.self) { return text }
  return bytes.map { byte in
    byte < 0x80 ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
  }.joined()
}

/// A `-w protobuf` answer as hex: the response header (field 1) without
/// its cluster ID, member ID and raft term, then the rest of the message.
/// Unparsable bytes are shown whole.
private func protobufText(_ bytes: [UInt8]) -> String {
  guard let fields = protobufFields(bytes), let header = fields.first, header.number == 1,
    let inner = protobufFields(header.payload)
  else { return "protobuf " + hex(bytes) }
  // ResponseHeader: 1 cluster_id, 2 member_id, 3 revision, 4 raft_term.
  let kept = inner.filter { $0.number == 3 }.flatMap(\.raw)
  return "protobuf header without ids and term: " + hex(kept) + "\nprotobuf rest: "
    + hex(fields.dropFirst().flatMap(\.raw))
}

private func hex(_ bytes: [UInt8]) -> String {
  bytes.map { String(format: "%02x", $0) }.joined()
}

/// One field of a protobuf message.
private struct ProtobufField {
  let number: UInt64
  /// The field as encoded, tag included.
  let raw: [UInt8]
  /// A length-delimited field's bytes; otherwise empty.
  let payload: [UInt8]
}

/// The top-level fields of a protobuf message, in wire order; nil if it
/// does not parse.
private func protobufFields(_ bytes: [UInt8]) -> [ProtobufField]? {
  var fields: [ProtobufField] = []
  var offset = 0
  func varint() -> UInt64? {
    var value: UInt64 = 0
    // A varint has at most 10 bytes.
    for shift in stride(from: 0, to: 70, by: 7) {
      guard offset < bytes.count else { return nil }
      let byte = bytes[offset]
      offset += 1
      value |= UInt64(byte & 0x7f) << UInt64(shift)
      if byte & 0x80 == 0 { return value }
    }
    return nil
  }
  while offset < bytes.count {
    let start = offset
    guard let tag = varint() else { return nil }
    var payload: [UInt8] = []
    switch tag & 7 {
    case 0: guard varint() != nil else { return nil }
    case 1: offset += 8
    case 5: offset += 4
    case 2:
      guard let length = varint(), length <= bytes.count - offset else { return nil }
      payload = Array(bytes[offset..<offset + Int(length)])
      offset += Int(length)
    default: return nil
    }
    guard offset <= bytes.count else { return nil }
    fields.append(
      ProtobufField(number: tag >> 3, raw: Array(bytes[start..<offset]), payload: payload))
  }
  return fields
}
