import EtcdProto
import Foundation
import Net
import SwiftProtobuf
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// One bad v3 request and what etcd 3.4.23 answers it with.
private struct BadRequest: CustomStringConvertible {
  let label: String
  let path: String
  let body: [UInt8]
  /// Only the message's start must equal etcd's: the protobuf decoder's own
  /// words follow it, and those differ (docs/api.md).
  var prefixOnly = false

  var description: String { label }
}

private func encoded(_ message: some SwiftProtobuf.Message) -> [UInt8] {
  (try? message.serializedBytes()) ?? []
}

private func put(key: String, valueBytes: Int) -> [UInt8] {
  var request = Etcdserverpb_PutRequest()
  request.key = Data(key.utf8)
  request.value = Data(repeating: 0x78, count: valueBytes)
  return encoded(request)
}

private func txnOp(put key: String) -> Etcdserverpb_RequestOp {
  var op = Etcdserverpb_RequestOp()
  var put = Etcdserverpb_PutRequest()
  put.key = Data(key.utf8)
  op.requestPut = put
  return op
}

private func txn(_ ops: [Etcdserverpb_RequestOp]) -> [UInt8] {
  var request = Etcdserverpb_TxnRequest()
  request.success = ops
  return encoded(request)
}

/// Txns nested `depth` levels deep, one op each; the innermost reads a key.
private func txnChain(depth: Int) -> [UInt8] {
  var request = Etcdserverpb_TxnRequest()
  request.success = [Etcdserverpb_RequestOp()]
  request.success[0].requestRange.key = Data("a".utf8)
  for _ in 1..<depth {
    var outer = Etcdserverpb_TxnRequest()
    outer.success = [Etcdserverpb_RequestOp()]
    outer.success[0].requestTxn = request
    request = outer
  }
  return encoded(request)
}

/// A txn whose first op is a txn of `inner` reads, followed by `outer` - 1
/// reads: the nested one may use only what the outer level left.
private func txnNested(outer: Int, inner: Int) -> [UInt8] {
  var read = Etcdserverpb_RequestOp()
  read.requestRange.key = Data("a".utf8)
  var nested = Etcdserverpb_RequestOp()
  nested.requestTxn.success = Array(repeating: read, count: inner)
  var request = Etcdserverpb_TxnRequest()
  request.success = [nested] + Array(repeating: read, count: outer - 1)
  return encoded(request)
}

/// etcd's defaults: --max-request-bytes, and the gRPC receive limit on top.
private let maxRequestBytes = 1_572_864
private let maxReceiveBytes = maxRequestBytes + 512 * 1024

private let badRequests: [BadRequest] = [
  // Field 1 (key) claims 5 bytes and has 2.
  BadRequest(
    label: "truncated Range", path: "/etcdserverpb.KV/Range", body: [0x0A, 0x05, 0x61, 0x62]),
  BadRequest(label: "truncated Put", path: "/etcdserverpb.KV/Put", body: [0x0A]),
  // A compare whose length runs past the end.
  BadRequest(label: "truncated Txn", path: "/etcdserverpb.KV/Txn", body: [0x0A, 0x05, 0x0A]),
  // Field 1 with wire type 7, which does not exist.
  BadRequest(
    label: "invalid wire type in Range", path: "/etcdserverpb.KV/Range", body: [0x0F],
    prefixOnly: true),
  BadRequest(label: "unknown method", path: "/etcdserverpb.KV/Nope", body: []),
  BadRequest(label: "unknown service", path: "/etcdserverpb.Nope/Range", body: []),
  BadRequest(
    label: "Put over the gRPC receive limit", path: "/etcdserverpb.KV/Put",
    body: put(key: "big", valueBytes: maxReceiveBytes)),
  BadRequest(
    label: "Put value one byte over --max-request-bytes", path: "/etcdserverpb.KV/Put",
    body: put(key: "big", valueBytes: maxRequestBytes + 1)),
  // Under the limit itself, but not once etcd wraps it in its raft entry.
  BadRequest(
    label: "Put 20 bytes under --max-request-bytes", path: "/etcdserverpb.KV/Put",
    body: put(key: "big", valueBytes: maxRequestBytes - 20)),
  BadRequest(
    label: "Txn of 129 puts", path: "/etcdserverpb.KV/Txn",
    body: txn((0..<129).map { txnOp(put: "k\($0)") })),
  BadRequest(
    label: "Txn of 1 op holding a txn of 128", path: "/etcdserverpb.KV/Txn",
    body: txnNested(outer: 1, inner: 128)),
  BadRequest(
    label: "Txn of 64 ops, one a txn of 65", path: "/etcdserverpb.KV/Txn",
    body: txnNested(outer: 64, inner: 65)),
  BadRequest(
    label: "Txns nested 129 deep", path: "/etcdserverpb.KV/Txn", body: txnChain(depth: 129)),
  BadRequest(
    label: "Txns nested 300 deep", path: "/etcdserverpb.KV/Txn", body: txnChain(depth: 300)),
  BadRequest(
    label: "Txn putting one key twice", path: "/etcdserverpb.KV/Txn",
    body: txn([txnOp(put: "twice"), txnOp(put: "twice")])),
  BadRequest(
    label: "Txn putting an empty key", path: "/etcdserverpb.KV/Txn", body: txn([txnOp(put: "")])),
  BadRequest(
    label: "Txn with an op that names no request", path: "/etcdserverpb.KV/Txn",
    body: txn([txnOp(put: "fine"), Etcdserverpb_RequestOp()])),
  BadRequest(
    label: "Put with an empty key", path: "/etcdserverpb.KV/Put", body: put(key: "", valueBytes: 1)),
  BadRequest(label: "Range with an empty key", path: "/etcdserverpb.KV/Range", body: []),
  BadRequest(
    label: "DeleteRange with an empty key", path: "/etcdserverpb.KV/DeleteRange", body: []),
]

/// A connection with a valid HTTP/2 client preface and an empty SETTINGS
/// frame, then one bad thing.
private let http2Opening = ProtocolSniffer.http2Preface + [0, 0, 0, 4, 0, 0, 0, 0, 0]
private let malformedConnections: [(label: String, bytes: [UInt8])] = [
  // Read as a frame header, "thi" is a length of 7.6 MB.
  ("garbage after the preface", http2Opening + Array("this is not an HTTP/2 frame".utf8)),
  // A PING must carry 8 bytes.
  ("a PING frame of length 4", http2Opening + [0, 0, 4, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4]),
  // END_STREAM | END_HEADERS, stream 0, ":method: GET" from the static table.
  ("a HEADERS frame on stream 0", http2Opening + [0, 0, 1, 1, 5, 0, 0, 0, 0, 0x82]),
]

/// Sends `bytes` on a fresh loopback connection to `port`; true when the
/// server closes it within 5 s.
private func serverCloses(port: Int, after bytes: [UInt8]) -> Bool {
  guard let fd = Harness.connectLoopback(port: port, timeout: 5) else { return false }
  defer { close(fd) }
  guard write(fd, bytes, bytes.count) == bytes.count else { return false }
  var buffer = [UInt8](repeating: 0, count: 4096)
  for _ in 0..<1000 {
    let n = read(fd, &buffer, buffer.count)
    if n == 0 { return true }
    if n < 0 { return errno == ECONNRESET }
  }
  return false
}

@Suite("v3 bad input: etcd's answers, nothing changes, the member keeps serving", .serialized)
struct V3BadInputTests {
  @Test(
    "bad requests get etcd 3.4.23's codes and messages, change nothing, and the connection goes on")
  func badRequestsAnswerAsEtcd() throws {
    try Harness.withReferenceAndMember { reference, member in
      let ours = try V3Client(port: member.clientPort)
      let theirs = try V3Client(port: reference.clientPort)
      for client in [ours, theirs] {
        #expect(throws: Never.self) { try client.put("before", "1").get() }
      }
      for bad in badRequests {
        let ourRevision = try #require(ours.revision(), "\(bad): swetcd answers a range")
        let theirRevision = try #require(theirs.revision(), "\(bad): etcd answers a range")
        let ourAnswer = ours.unary(bad.path, bad.body)
        let theirAnswer = theirs.unary(bad.path, bad.body)
        guard case .failure(let expected) = theirAnswer else {
          Issue.record("\(bad): etcd accepted it")
          continue
        }
        guard case .failure(let got) = ourAnswer else {
          Issue.record("\(bad): swetcd accepted it; etcd answered \(expected)")
          continue
        }
        #expect(got.code == expected.code, "\(bad): \(got) vs etcd's \(expected)")
        if bad.prefixOnly {
          let prefix = "grpc: error unmarshalling request: "
          #expect(
            expected.message.hasPrefix(prefix) && got.message.hasPrefix(prefix), "\(bad): \(got)")
        } else {
          #expect(got.message == expected.message, "\(bad)")
        }
        // The revision check is itself a good request on the same connection.
        #expect(ours.revision() == ourRevision, "\(bad) changed swetcd's revision")
        #expect(theirs.revision() == theirRevision, "\(bad) changed etcd's revision")
      }
      // What fits the op budget goes through on both.
      for client in [ours, theirs] {
        #expect(throws: Never.self, "txns nested 128 deep") {
          try client.unary("/etcdserverpb.KV/Txn", txnChain(depth: 128)).get()
        }
        #expect(throws: Never.self, "a txn of 64 ops, one a txn of 64") {
          try client.unary("/etcdserverpb.KV/Txn", txnNested(outer: 64, inner: 64)).get()
        }
      }
      // The largest value that fits still goes through on both.
      for client in [ours, theirs] {
        let fits = client.unary(
          "/etcdserverpb.KV/Put", put(key: "big", valueBytes: maxRequestBytes - 100))
        #expect(throws: Never.self, "a value 100 bytes under the limit") { try fits.get() }
      }
      ours.close()
      theirs.close()
    }
  }

  @Test("a malformed HTTP/2 connection is closed alone, on swetcd as on etcd")
  func malformedConnectionsCloseAlone() throws {
    try Harness.withReferenceAndMember { reference, member in
      for (name, port) in [("swetcd", member.clientPort), ("etcd", reference.clientPort)] {
        let earlier = try V3Client(port: port)
        #expect(throws: Never.self) { try earlier.put("k", "before").get() }
        for (label, bytes) in malformedConnections {
          #expect(
            serverCloses(port: port, after: bytes), "\(name): \(label) left the connection open")
          #expect(throws: Never.self, "\(name) after \(label): a connection opened before") {
            try earlier.put("k", label).get()
          }
          let later = try V3Client(port: port)
          #expect(throws: Never.self, "\(name) after \(label): a new connection") {
            try later.put("k", label).get()
          }
          later.close()
        }
        earlier.close()
      }
    }
  }

  @Test("hasleader metadata: refused without a leader, and an open watch ended, as by etcd")
  func requireLeader() throws {
    try Harness.withReferenceAndMember { reference, member in
      var outputs: [String] = []
      for url in [reference.clientURL, member.clientURL] {
        let ctl = "etcdctl --endpoints=\(url)"
        // etcdctl's watch asks for a leader; a second voter that never
        // starts takes the member's quorum, and with it its leader.
        let script = """
          export ETCDCTL_API=3
          \(ctl) put a 1 >/dev/null
          timeout 20 \(ctl) watch a & watcher=$!
          sleep 1
          \(ctl) member add never --peer-urls=http://127.0.0.1:9 >/dev/null
          wait $watcher; echo "watch exit $?"
          timeout 10 \(ctl) watch a --rev 1; echo "watch from revision 1 exit $?"
          """
        var output = Harness.run(["bash", "-c", script], timeout: 40, withErrors: true)
        let port = Int(url.split(separator: ":").last ?? "") ?? 0
        let client = try V3Client(port: port)
        defer { client.close() }
        var range = Etcdserverpb_RangeRequest()
        range.key = Data("a".utf8)
        range.serializable = true
        for metadata: HTTPHeaders in [[:], ["hasleader": "true"]] {
          let answer = client.unary(
            "/etcdserverpb.KV/Range", encoded(range), metadata: metadata, seconds: 5)
          output += "serializable range \(metadata.fields.map(\.name)): "
          switch answer {
          case .success: output += "answered\n"
          case .failure(let status): output += "\(status.code) \(status.message)\n"
          }
        }
        outputs.append(output)
      }
      #expect(outputs[0].contains("watch was canceled (etcdserver: no leader)"), "\(outputs[0])")
      #expect(outputs[1] == outputs[0], "\(diff(outputs[0], outputs[1]))")
    }
  }

  @Test("member remove on a member that lost its quorum: etcd's refusals and its wait")
  func removeWithoutQuorum() throws {
    try Harness.withReferenceAndMember { reference, member in
      var outputs: [String] = []
      for url in [reference.clientURL, member.clientURL] {
        let script = """
          export ETCDCTL_API=3
          ctl="etcdctl --endpoints=\(url)"
          added=$($ctl member add never --peer-urls=http://127.0.0.1:9)
          never=$(echo "$added" | head -1 | awk '{print $2}')
          $ctl member remove 1234; echo "unknown member, at once: exit $?"
          sleep 3
          $ctl member remove 1234; echo "unknown member, 3 s later: exit $?"
          $ctl --command-timeout=2s member remove $never; echo "the unstarted member: exit $?"
          """
        // clientv3 logs its retries with times and ports: not compared. At
        // the deadline the server's answer and the client's own timer race,
        // on etcd as here: either way it is the deadline.
        let output = Harness.run(["bash", "-c", script], timeout: 30, withErrors: true)
        outputs.append(
          output.split(separator: "\n").filter { !$0.hasPrefix("{\"level\"") }
            .joined(separator: "\n").replacingOccurrences(
              of: "rpc error: code = Unknown desc = context deadline exceeded",
              with: "context deadline exceeded"))
      }
      #expect(outputs[0].contains("not enough started members"), "\(outputs[0])")
      #expect(outputs[0].contains("context deadline exceeded"), "\(outputs[0])")
      #expect(outputs[1] == outputs[0], "\(diff(outputs[0], outputs[1]))")
    }
  }

  @Test("a unary call that sends no request is ended as etcd ends it")
  func unaryWithoutRequest() throws {
    try Harness.withReferenceAndMember { reference, member in
      var statuses: [GRPCStatus?] = []
      for port in [reference.clientPort, member.clientPort] {
        let client = try V3Client(port: port)
        defer { client.close() }
        statuses.append(client.stream("/etcdserverpb.KV/Range") { call, _ in call.closeSend() })
        #expect(client.revision() != nil, "the connection goes on")
      }
      #expect(statuses[0]?.code == .unknown && statuses[0]?.message == "EOF", "etcd: \(statuses)")
      #expect(statuses[1] == statuses[0], "swetcd: \(statuses)")
    }
  }

  @Test("a keepalive stream whose client reads nothing is answered up to a bound, then ended")
  func keepAliveStreamThatNeverReads() throws {
    try Harness.withSingleMember { member, _ in
      // No window for the server's answers: they can only queue.
      let raw = try #require(RawHTTP2(port: member.clientPort, initialWindow: 0))
      defer { raw.close() }
      var request = Etcdserverpb_LeaseKeepAliveRequest()
      request.id = 0x1234
      let sent = 20_000
      #expect(raw.startCall(stream: 1, path: "/etcdserverpb.Lease/LeaseKeepAlive"))
      #expect(raw.send(messages: Array(repeating: encoded(request), count: sent), stream: 1))
      // Given time to read them all before any answer can leave.
      Thread.sleep(forTimeInterval: 2)
      #expect(raw.grantWindow(stream: 0, 1 << 30) && raw.grantWindow(stream: 1, 1 << 30))
      var answers: [UInt8] = []
      var headerBlocks: [[UInt8]] = []
      var ended = false
      for _ in 0..<100_000 {
        guard let frame = raw.readFrame() else { break }
        guard frame.stream == 1 else { continue }
        if frame.type == RawHTTP2.FrameType.data.rawValue { answers += frame.payload }
        if frame.type == RawHTTP2.FrameType.headers.rawValue {
          headerBlocks.append(frame.payload)
          ended = frame.flags & RawHTTP2.endStream != 0
        }
        if ended || frame.type == RawHTTP2.FrameType.rstStream.rawValue { break }
      }
      var answered = 0
      var offset = 0
      while offset + 5 <= answers.count {
        let length = answers[offset + 1...offset + 4].reduce(0) { $0 << 8 | Int($1) }
        offset += 5 + length
        answered += 1
      }
      print(
        "keepalive stream that never reads: \(answered) of \(sent) answered, \(answers.count) bytes"
      )
      #expect(ended, "the stream ends with trailers")
      let trailers = RawHTTP2.decodeHeaders(headerBlocks).last ?? [:]
      #expect(trailers["grpc-status"] == "8", "\(trailers)")
      #expect(trailers["grpc-message"] == "etcdserver: too many requests", "\(trailers)")
      // The server's queue for one call holds 256 KiB; what passes it waits
      // for a turn, 1024 at most, and then the stream ends.
      #expect(answered > 0 && answers.count < 512 * 1024)
      #expect(answered < sent)
      #expect(member.put("after", "1").contains("\"value\":\"1\""))
    }
  }

  @Test("an expired grpc-timeout and a call reset by the client leave the member serving")
  func deadlinesAndResetsDoNotBreakTheServer() throws {
    try Harness.withReferenceAndMember { reference, member in
      var create = Etcdserverpb_WatchRequest()
      create.createRequest.key = Data("watched".utf8)
      let watch = encoded(create)
      var statuses: [String: GRPCStatus?] = [:]
      for (name, port) in [("swetcd", member.clientPort), ("etcd", reference.clientPort)] {
        let client = try V3Client(port: port)
        let revision = try #require(client.revision())
        // Only the server keeps this deadline: the client enforces none.
        statuses[name] = client.stream(
          "/etcdserverpb.Watch/Watch", metadata: ["grpc-timeout": "300m"], seconds: 5
        ) {
          call, _ in call.send(watch)
        }
        // A watch with a watcher, then a put, each reset while in flight.
        let reset = client.stream("/etcdserverpb.Watch/Watch") { call, loop in
          call.send(watch)
          LoopTimer.after(200, on: loop) { call.cancel() }
        }
        #expect(reset?.code == .cancelled, "\(name): \(String(describing: reset))")
        let putReset = client.stream("/etcdserverpb.KV/Put") { call, _ in
          call.send(put(key: "reset", valueBytes: 3))
          call.closeSend()
          call.cancel()
        }
        #expect(putReset?.code == .cancelled, "\(name): \(String(describing: putReset))")
        // The put may have been applied before the reset reached the server.
        let after = try #require(client.revision(), "\(name) answers on the same connection")
        #expect(after == revision || after == revision + 1, "\(name): \(revision) then \(after)")
        #expect(throws: Never.self, "\(name): a put on the same connection") {
          try client.put("after", "1").get()
        }
        let fresh = try V3Client(port: port)
        #expect(throws: Never.self, "\(name): a put on a new connection") {
          try fresh.put("after", "2").get()
        }
        fresh.close()
        client.close()
      }
      let ours = try #require(statuses["swetcd"] ?? nil, "swetcd ended the call past its deadline")
      let theirs = try #require(statuses["etcd"] ?? nil, "etcd ended the call past its deadline")
      #expect(ours.message == theirs.message, "swetcd: \(ours), etcd: \(theirs)")
      // etcd's watch handler races the context's end: grpc-go sends the bare
      // context error as Unknown, or its own DeadlineExceeded. swetcd answers
      // every expired call as grpc-go does a unary one (docs/api.md).
      #expect(ours.code == .deadlineExceeded, "swetcd: \(ours)")
      #expect([.deadlineExceeded, .unknown].contains(theirs.code), "etcd: \(theirs)")
    }
  }

  @Test("a write that finds no leader ends as etcd's does: at the client's deadline and at 7 s")
  func writeWithoutLeaderTimesOutAsEtcd() throws {
    try Harness.withReferenceAndMember { reference, member in
      for (name, port) in [("swetcd", member.clientPort), ("etcd", reference.clientPort)] {
        let client = try V3Client(port: port)
        defer { client.close() }
        // A second voter that never starts: the lone member loses its
        // quorum, and with check-quorum its leadership.
        var add = Etcdserverpb_MemberAddRequest()
        add.peerUrls = ["http://127.0.0.1:9"]
        let added: Result<Etcdserverpb_MemberAddResponse, GRPCStatus> = client.call(
          "/etcdserverpb.Cluster/MemberAdd", add)
        try #require(throws: Never.self, "\(name): member add") { try added.get() }
        let leaderless = Harness.waitFor(10) {
          let status: Result<Etcdserverpb_StatusResponse, GRPCStatus> = client.call(
            "/etcdserverpb.Maintenance/Status", Etcdserverpb_StatusRequest(), seconds: 3)
          return (try? status.get().leader) == 0
        }
        try #require(leaderless, "\(name) still has a leader 10 s after losing its quorum")
        // The client enforces no deadline of its own: the server's answer
        // is what is compared.
        let atClientDeadline = client.unary(
          "/etcdserverpb.KV/Put", put(key: "late", valueBytes: 1),
          metadata: ["grpc-timeout": "1000m"], seconds: 5)
        let atServerTimeout = client.unary(
          "/etcdserverpb.KV/Put", put(key: "late", valueBytes: 1), seconds: 12)
        for answer in [atClientDeadline, atServerTimeout] {
          guard case .failure(let status) = answer else {
            Issue.record("\(name): a put without a leader succeeded")
            continue
          }
          // etcd's proposal waits in Raft for a leader and gives back the
          // context's error, which grpc-go sends as Unknown.
          #expect(
            status.code == .unknown && status.message == "context deadline exceeded",
            "\(name): \(status)")
        }
      }
    }
  }
}
