import Dispatch
import Foundation
import Net
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Accepts connections and echoes what they send.
private func startEchoServer(host: String) throws -> (LoopThread, Int) {
  try LoopThread.start { loop in
    let listener = try TCPListener(loop: loop, address: SocketAddress(host: host, port: 0)) {
      connection in
      connection.onRead = { [unowned connection] bytes in connection.write(bytes) }
      connection.startReading()
    }
    return listener.localAddress.port
  }
}

@Suite struct TCPTests {
  @Test(arguments: ["127.0.0.1", "::1"])
  func listenerOnPortZeroEchoes(host: String) throws {
    let (runner, port) = try startEchoServer(host: host)
    defer { runner.stop() }
    #expect(port > 0)
    let client = try TestClient(host: host, port: port)
    try client.send("ping")
    #expect(client.receiveOnce() == Array("ping".utf8))
  }

  @Test func invalidAddressIsRejected() {
    #expect(throws: NetError.invalidAddress("localhost")) {
      try SocketAddress(host: "localhost", port: 1)
    }
    #expect(throws: NetError.self) { try SocketAddress(host: "1.2.3.4", port: 70000) }
    #expect((try? SocketAddress(host: "[::1]", port: 5))?.description == "[::1]:5")
  }

  @Test func connectorConnectsAndReportsRefusal() throws {
    let (echo, port) = try startEchoServer(host: "127.0.0.1")
    defer { echo.stop() }
    let outcomes = Locked<[String]>([])
    let (runner, _) = try LoopThread.start { loop in
      TCPConnector.connect(
        loop: loop, to: try SocketAddress(host: "127.0.0.1", port: port), timeoutMs: 2000
      ) {
        result in
        guard case .success(let connection) = result else {
          return outcomes.update { $0.append("failed") }
        }
        connection.onRead = { [unowned connection] bytes in
          outcomes.update { $0.append(String(decoding: bytes, as: UTF8.self)) }
          connection.close()
        }
        connection.startReading()
        connection.write(Array("hello".utf8))
      }
      // Port 1 on loopback has no listener: the kernel refuses at once.
      TCPConnector.connect(
        loop: loop, to: try SocketAddress(host: "127.0.0.1", port: 1), timeoutMs: 2000
      ) {
        result in
        if case .failure(.uv(let code)) = result, code == -ECONNREFUSED {
          outcomes.update { $0.append("refused") }
        }
      }
    }
    defer { runner.stop() }
    #expect(waitUntil(timeoutMs: 3000) { outcomes.value.count == 2 })
    #expect(Set(outcomes.value) == ["hello", "refused"])
  }

  @Test func connectorTimesOutWhenTheHandshakeStalls() throws {
    // A listener with a full accept queue drops further SYNs, so connecting
    // to it stalls: the deadline is what ends the attempt.
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, length) == 0 && listen(fd, 0) == 0 && getsockname(fd, $0, &length) == 0
      }
    }
    let port = Int(UInt16(bigEndian: address.sin_port))
    let outcomes = Locked<[NetError?]>([])
    let (runner, _) = try LoopThread.start { loop in
      for _ in 0..<4 {
        TCPConnector.connect(
          loop: loop, to: try SocketAddress(host: "127.0.0.1", port: port), timeoutMs: 200
        ) {
          result in
          outcomes.update {
            if case .failure(let error) = result { $0.append(error) } else { $0.append(nil) }
          }
          if case .success(let connection) = result { connection.close() }
        }
      }
    }
    defer { runner.stop() }
    #expect(waitUntil(timeoutMs: 3000) { outcomes.value.count == 4 })
    #expect(outcomes.value.contains(.timedOut))
  }

  @Test func closeAfterFlushDeliversEverythingThenEOF() throws {
    let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    let (runner, port) = try LoopThread.start { loop in
      let listener = try TCPListener(loop: loop, address: SocketAddress(host: "127.0.0.1", port: 0))
      {
        connection in
        connection.write(payload)
        connection.closeAfterFlush()
      }
      return listener.localAddress.port
    }
    defer { runner.stop() }
    let client = try TestClient(port: port)
    var received: [UInt8] = []
    for _ in 0..<10_000 {
      guard let bytes = client.receiveOnce(), !bytes.isEmpty else { break }
      received += bytes
    }
    #expect(received == payload)
  }

  @Test func readingPausesAboveHighWaterAndResumesOnDrain() throws {
    let events = Locked<[String]>([])
    let payload = [UInt8](repeating: 0x64, count: 8 << 20)
    let (runner, port) = try LoopThread.start { loop in
      let listener = try TCPListener(loop: loop, address: SocketAddress(host: "127.0.0.1", port: 0))
      {
        connection in
        connection.limits = TCPConnection.Limits(highWaterMark: 256 << 10, hardLimit: 16 << 20)
        connection.onRead = { bytes in
          events.update { $0.append("read \(String(decoding: bytes, as: UTF8.self))") }
        }
        connection.onDrain = { events.update { $0.append("drain") } }
        connection.startReading()
        connection.write(payload)
      }
      return listener.localAddress.port
    }
    defer { runner.stop() }
    let client = try TestClient(port: port)
    try client.send("x")
    usleep(100_000)
    #expect(events.value.isEmpty, "read while the peer was behind: \(events.value)")
    var received = 0
    for _ in 0..<10_000 where received < payload.count {
      guard let bytes = client.receiveOnce(), !bytes.isEmpty else { break }
      received += bytes.count
    }
    #expect(received == payload.count)
    #expect(waitUntil(timeoutMs: 2000) { events.value == ["drain", "read x"] })
  }

  @Test func snifferRoutesHTTP2PrefaceAndHTTP1() throws {
    let (runner, port) = try LoopThread.start { loop in
      let http = HTTPServer(loop: loop) { _, responder in
        responder.respond(status: 200, body: Array("http1".utf8))
      }
      let listener = try TCPListener(loop: loop, address: SocketAddress(host: "127.0.0.1", port: 0))
      {
        connection in
        ProtocolSniffer.attach(connection) { bytes, _ in
          switch ProtocolSniffer.classify(bytes) {
          case nil: return .needMoreBytes
          case .http1: return .handOver { http.serve($0, initialBytes: $1) }
          case .http2PriorKnowledge:
            return .handOver { connection, buffered in
              connection.write(Array("h2 after \(buffered.count)".utf8))
              connection.closeAfterFlush()
            }
          }
        }
      }
      return listener.localAddress.port
    }
    defer { runner.stop() }
    let h2 = try TestClient(port: port)
    // Sent in two pieces: the sniffer must wait for the whole preface.
    try h2.send(Array(ProtocolSniffer.http2Preface[..<10]))
    usleep(20_000)
    try h2.send(Array(ProtocolSniffer.http2Preface[10...]) + [0, 0, 0])
    #expect(h2.receiveOnce() == Array("h2 after 27".utf8))
    let h1 = try TestClient(port: port)
    try h1.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    #expect(h1.readResponse()?.text == "http1")
  }

  @Test func classifyDecidesAsEarlyAsPossible() {
    #expect(ProtocolSniffer.classify(Array("PRI * HTT".utf8)) == nil)
    #expect(ProtocolSniffer.classify(Array("PO".utf8)) == .http1)
    #expect(ProtocolSniffer.classify([UInt8]()) == nil)
    #expect(ProtocolSniffer.classify(ProtocolSniffer.http2Preface) == .http2PriorKnowledge)
  }
}
