import Dispatch
import Foundation
import Net
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// What the loop-side handlers report back to the test thread.
private final class ServerProbe: Sendable {
  let requests = Locked<[String]>([])
  let closedAt = Locked<DispatchTime?>(nil)
  let maxQueued = Locked(0)
  let streamedBytes = Locked(0)
}

private func startServer(
  host: String = "127.0.0.1",
  configure: @escaping @Sendable (inout HTTPServer.Configuration) -> Void = { _ in },
  server: LoopLocal<HTTPServer> = LoopLocal(),
  handler: @escaping @Sendable (EventLoop, HTTPRequest, HTTPResponder) -> Void
) throws -> (LoopThread, Int) {
  try LoopThread.start { loop in
    var configuration = HTTPServer.Configuration()
    configure(&configuration)
    let http = HTTPServer(loop: loop, configuration: configuration) { request, responder in
      handler(loop, request, responder)
    }
    server.value = http
    return try http.listen(on: SocketAddress(host: host, port: 0)).localAddress.port
  }
}

/// Answers with the path and query it saw, unless the path asks for a delay.
private func echoHandler(_ loop: EventLoop, _ request: HTTPRequest, _ responder: HTTPResponder) {
  let body = Array(
    "\(request.method) \(request.path) \(request.query.map { "\($0.name)=\($0.value)" }) \(request.headers["x-test"] ?? "") \(String(decoding: request.body, as: UTF8.self))"
      .utf8)
  if request.path == "/slow" {
    LoopTimer.after(100, on: loop) { responder.respond(status: 200, body: body) }
  } else {
    responder.respond(status: 200, headers: ["Content-Type": "text/plain"], body: body)
  }
}

@Suite struct HTTPServerTests {
  @Test(arguments: ["127.0.0.1", "::1"])
  func simpleGet(host: String) throws {
    let (runner, port) = try startServer(host: host, handler: echoHandler)
    defer { runner.stop() }
    let client = try TestClient(host: host, port: port)
    try client.send("GET /a%2Fb?x=1&y=hello+world HTTP/1.1\r\nHost: h\r\nX-TEST: yes\r\n\r\n")
    let response = try #require(client.readResponse())
    #expect(response.status == 200)
    #expect(response.text == "GET /a/b [\"x=1\", \"y=hello world\"] yes ")
    #expect(response.headers["content-type"] == "text/plain")
  }

  @Test func keepAliveServesThreeRequestsOnOneConnection() throws {
    let server = LoopLocal<HTTPServer>()
    let (runner, port) = try startServer(server: server, handler: echoHandler)
    defer { runner.stop() }
    let client = try TestClient(port: port)
    for index in 0..<3 {
      try client.send("GET /k\(index) HTTP/1.1\r\n\r\n")
      #expect(client.readResponse()?.text == "GET /k\(index) []  ")
    }
    #expect(try runner.sync { server.value!.connectionCount } == 1)
  }

  @Test func pipelinedAnswersKeepRequestOrderWhenTheFirstIsLate() throws {
    let (runner, port) = try startServer(handler: echoHandler)
    defer { runner.stop() }
    let client = try TestClient(port: port)
    try client.send(
      "GET /slow HTTP/1.1\r\n\r\nGET /fast HTTP/1.1\r\n\r\nPOST /body HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
    )
    #expect(client.readResponse()?.text == "GET /slow []  ")
    #expect(client.readResponse()?.text == "GET /fast []  ")
    #expect(client.readResponse()?.text == "POST /body []  hi")
  }

  @Test func chunkedStreamingSendsEveryChunk() throws {
    let (runner, port) = try startServer { loop, _, responder in
      responder.startStream(status: 200, headers: ["Content-Type": "application/json"])
      let sent = LoopLocal<Int>()
      sent.value = 0
      let timer = LoopLocal<LoopTimer>()
      timer.value = LoopTimer.every(5, on: loop) {
        sent.value! += 1
        responder.writeChunk(Array("{\"event\":\(sent.value!)}\n".utf8))
        if sent.value == 5 {
          responder.endStream()
          timer.value?.cancel()
        }
      }
    }
    defer { runner.stop() }
    let client = try TestClient(port: port)
    try client.send("GET /watch?stream=true HTTP/1.1\r\n\r\n")
    let response = try #require(client.readResponse())
    #expect(response.headers["transfer-encoding"] == "chunked")
    #expect(
      response.chunks.map { String(decoding: $0, as: UTF8.self) }
        == (1...5).map { "{\"event\":\($0)}\n" })
    try client.send("GET /again HTTP/1.1\r\n\r\n")
    #expect(client.readResponse()?.chunks.count == 5)
  }

  @Test func clientDisconnectFiresOnCloseAtOnce() throws {
    let probe = ServerProbe()
    let (runner, port) = try startServer { _, request, responder in
      probe.requests.update { $0.append(request.path) }
      responder.onClose = { probe.closedAt.update { $0 = .now() } }
    }
    defer { runner.stop() }
    var client: TestClient? = try TestClient(port: port)
    try client?.send("GET /v2/keys/a?wait=true HTTP/1.1\r\n\r\n")
    #expect(waitUntil { probe.requests.value.count == 1 })
    let closedByClient = DispatchTime.now()
    client = nil
    #expect(waitUntil(timeoutMs: 1000) { probe.closedAt.value != nil })
    let elapsedNs =
      (probe.closedAt.value?.uptimeNanoseconds ?? .max) - closedByClient.uptimeNanoseconds
    #expect(elapsedNs < 100_000_000, "onClose after \(elapsedNs / 1000) µs")
  }

  @Test func streamingToAVanishedClientEndsInOnCloseNotACrash() throws {
    let probe = ServerProbe()
    let (runner, port) = try startServer { loop, request, responder in
      probe.requests.update { $0.append(request.path) }
      responder.startStream(status: 200)
      responder.onClose = { probe.closedAt.update { $0 = .now() } }
      let timer = LoopLocal<LoopTimer>()
      timer.value = LoopTimer.every(1, on: loop) {
        guard !responder.isClosed else { return timer.value!.cancel() }
        responder.writeChunk([UInt8](repeating: 0x63, count: 16 * 1024))
      }
    }
    defer { runner.stop() }
    var client: TestClient? = try TestClient(port: port)
    try client?.send("GET /watch HTTP/1.1\r\n\r\n")
    #expect(client?.receiveOnce()?.isEmpty == false)
    client = nil
    #expect(waitUntil(timeoutMs: 2000) { probe.closedAt.value != nil })
  }

  @Test func bodyOverTheLimitIs413AndCloses() throws {
    let (runner, port) = try startServer(
      configure: { $0.maxBodyBytes = 1024 }, handler: echoHandler)
    defer { runner.stop() }
    let client = try TestClient(port: port)
    try client.send("PUT /v2/keys/big HTTP/1.1\r\nContent-Length: 100000000\r\n\r\nxxxx")
    #expect(client.readResponse()?.status == 413)
    #expect(client.waitForClose())
  }

  @Test func hugeHeadersAre431AndClose() throws {
    let (runner, port) = try startServer(
      configure: { $0.maxHeaderBytes = 8192 }, handler: echoHandler)
    defer { runner.stop() }
    let client = try TestClient(port: port)
    try client.send("GET / HTTP/1.1\r\nX-Big: \(String(repeating: "b", count: 100_000))\r\n\r\n")
    #expect(client.readResponse()?.status == 431)
    #expect(client.waitForClose())
  }

  @Test func garbageIs400AndClosesWhileOthersAreServed() throws {
    let (runner, port) = try startServer(handler: echoHandler)
    defer { runner.stop() }
    let bad = try TestClient(port: port)
    try bad.send([0, 1, 2, 0xFF] + Array("garbage\r\n\r\nmore garbage".utf8))
    #expect(bad.readResponse()?.status == 400)
    #expect(bad.waitForClose())
    let good = try TestClient(port: port)
    try good.send("GET /ok HTTP/1.1\r\n\r\n")
    #expect(good.readResponse()?.status == 200)
  }

  @Test func http10AndConnectionCloseAreHonoured() throws {
    let (runner, port) = try startServer(handler: echoHandler)
    defer { runner.stop() }
    // Go's answers: HTTP/1.0 in its own version, closing without a word.
    for (request, connection) in [
      ("GET /old HTTP/1.0\r\n\r\n", nil), ("GET /c HTTP/1.1\r\nConnection: close\r\n\r\n", "close"),
    ] {
      let client = try TestClient(port: port)
      try client.send(request)
      let response = try #require(client.readResponse())
      #expect(response.status == 200)
      #expect(response.headers["connection"] == connection)
      #expect(client.waitForClose())
    }
  }

  @Test func chunkedRequestBodyIsDecoded() throws {
    let (runner, port) = try startServer(handler: echoHandler)
    defer { runner.stop() }
    let client = try TestClient(port: port)
    try client.send(
      "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n")
    #expect(client.readResponse()?.text == "POST /c []  hello!")
  }

  @Test func curlGetsAnswersAndContinue() throws {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") else { return }
    let (runner, port) = try startServer(handler: echoHandler)
    defer { runner.stop() }
    let (status, output) = try runProcess(
      "/usr/bin/curl",
      ["-s", "--max-time", "5", "http://127.0.0.1:\(port)/v2/keys/a?recursive=true"])
    #expect(status == 0)
    #expect(output == "GET /v2/keys/a [\"recursive=true\"]  ")
    let started = DispatchTime.now()
    // curl waits up to a second for "100 Continue" before sending the body anyway.
    let (putStatus, putOutput) = try runProcess(
      "/usr/bin/curl",
      [
        "-s", "--max-time", "5", "-X", "PUT", "-H", "Expect: 100-continue", "--data-binary", "@-",
        "http://127.0.0.1:\(port)/v2/keys/b",
      ], stdin: "value=1")
    let elapsedMs = (DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1_000_000
    #expect(putStatus == 0)
    #expect(putOutput == "PUT /v2/keys/b []  value=1")
    #expect(elapsedMs < 900)
  }

  @Test func slowReaderIsPausedThenCutOffWithBoundedQueue() throws {
    let probe = ServerProbe()
    let chunk = [UInt8](repeating: 0x61, count: 64 * 1024)
    let total = 100 << 20
    let hardLimit = 4 << 20
    let smallLimits: @Sendable (inout HTTPServer.Configuration) -> Void = {
      $0.writeLimits = TCPConnection.Limits(highWaterMark: 256 << 10, hardLimit: hardLimit)
    }
    let (runner, port) = try startServer(configure: smallLimits) { loop, _, responder in
      responder.startStream(status: 200)
      responder.onClose = { probe.closedAt.update { $0 = .now() } }
      let timer = LoopLocal<LoopTimer>()
      timer.value = LoopTimer.every(1, on: loop) {
        // A careless producer: writes on, watching nothing but closure.
        for _ in 0..<16 where !responder.isClosed && probe.streamedBytes.value < total {
          responder.writeChunk(chunk)
          probe.streamedBytes.update { $0 += chunk.count }
          probe.maxQueued.update { $0 = max($0, responder.queuedWriteBytes) }
        }
        if responder.isClosed || probe.streamedBytes.value >= total { timer.value?.cancel() }
      }
    }
    defer { runner.stop() }
    let client = try TestClient(port: port)
    try client.send("GET /stream HTTP/1.1\r\n\r\n")
    #expect(waitUntil(timeoutMs: 10_000) { probe.closedAt.value != nil })
    #expect(probe.streamedBytes.value < total)
    #expect(probe.maxQueued.value <= hardLimit + chunk.count + 16)
  }

  @Test func producerPacedByOnDrainDeliversEverythingWithinTheHighWaterMark() throws {
    let probe = ServerProbe()
    let chunk = [UInt8](repeating: 0x62, count: 32 * 1024)
    let total = 16 << 20
    let highWaterMark = 256 << 10
    let smallLimits: @Sendable (inout HTTPServer.Configuration) -> Void = {
      $0.writeLimits = TCPConnection.Limits(highWaterMark: highWaterMark, hardLimit: 1 << 20)
    }
    let (runner, port) = try startServer(configure: smallLimits) { _, _, responder in
      responder.startStream(status: 200)
      let produce = LoopLocal<() -> Void>()
      produce.value = {
        while probe.streamedBytes.value < total && responder.queuedWriteBytes <= highWaterMark {
          responder.writeChunk(chunk)
          probe.streamedBytes.update { $0 += chunk.count }
          probe.maxQueued.update { $0 = max($0, responder.queuedWriteBytes) }
        }
        if probe.streamedBytes.value >= total {
          responder.onDrain = nil
          responder.endStream()
        }
      }
      responder.onDrain = { produce.value?() }
      produce.value?()
    }
    defer { runner.stop() }
    let client = try TestClient(port: port)
    try client.send("GET /stream HTTP/1.1\r\n\r\n")
    let response = try #require(client.readResponse())
    #expect(response.body.count == total)
    #expect(probe.maxQueued.value <= highWaterMark + chunk.count + 16)
  }

  @Test func gracefulShutdownFinishesInFlightAndClosesIdle() throws {
    let server = LoopLocal<HTTPServer>()
    let probe = ServerProbe()
    let (runner, port) = try startServer(server: server) { loop, request, responder in
      probe.requests.update { $0.append(request.path) }
      echoHandler(loop, request, responder)
    }
    defer { runner.stop() }
    let idle = try TestClient(port: port)
    try idle.send("GET /first HTTP/1.1\r\n\r\n")
    #expect(idle.readResponse()?.status == 200)
    let busy = try TestClient(port: port)
    try busy.send("GET /slow HTTP/1.1\r\n\r\n")
    #expect(waitUntil { probe.requests.value == ["/first", "/slow"] })
    let done = Locked(false)
    try runner.sync { server.value!.shutdown(deadlineMs: 2000) { done.update { $0 = true } } }
    #expect(idle.waitForClose())
    let response = try #require(busy.readResponse())
    #expect(response.status == 200)
    #expect(response.headers["connection"] == "close")
    #expect(busy.waitForClose())
    // Our FIN ends the server's linger at once; without it shutdown would wait lingerMs.
    busy.closeWrite()
    #expect(waitUntil(timeoutMs: 1000) { done.value })
    #expect(throws: SocketError.self) { try TestClient(port: port) }
  }
}

@Suite struct HTTPServerShutdownDeadlineTests {
  @Test func deadlineClosesWhatNeverFinishes() throws {
    let server = LoopLocal<HTTPServer>()
    let probe = ServerProbe()
    let (runner, port) = try startServer(server: server) { _, request, responder in
      probe.requests.update { $0.append(request.path) }
      responder.onClose = { probe.closedAt.update { $0 = .now() } }
    }
    defer { runner.stop() }
    let client = try TestClient(port: port)
    try client.send("GET /v2/keys/a?wait=true HTTP/1.1\r\n\r\n")
    #expect(waitUntil { probe.requests.value.count == 1 })
    let done = Locked(false)
    try runner.sync { server.value!.shutdown(deadlineMs: 100) { done.update { $0 = true } } }
    #expect(client.waitForClose())
    #expect(waitUntil(timeoutMs: 2000) { done.value && probe.closedAt.value != nil })
  }
}

@Suite struct HTTPServerTimeoutTests {
  private let tinyTimeouts: @Sendable (inout HTTPServer.Configuration) -> Void = {
    $0.requestReadTimeoutMs = 100
    $0.idleTimeoutMs = 100
  }

  private func milliseconds(since start: DispatchTime) -> UInt64 {
    (DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000
  }

  @Test func halfAHeaderLineGets408ThenClose() throws {
    let (runner, port) = try startServer(configure: tinyTimeouts, handler: echoHandler)
    defer { runner.stop() }
    let client = try TestClient(port: port)
    let started = DispatchTime.now()
    try client.send("GET /a HTTP/1.1\r\nHost: exa")
    let response = try #require(client.readResponse())
    let elapsedMs = milliseconds(since: started)
    #expect(response.status == 408)
    #expect(response.text == "Request Timeout\n")
    #expect(response.headers["connection"] == "close")
    #expect(client.waitForClose())
    #expect(elapsedMs >= 95 && elapsedMs < 2000, "408 after \(elapsedMs) ms")
  }

  @Test func tricklingBytesDoesNotExtendTheReadTimeout() throws {
    let (runner, port) = try startServer(configure: tinyTimeouts, handler: echoHandler)
    defer { runner.stop() }
    let client = try TestClient(port: port)
    try client.send("GET /a HTTP/1.1\r\nX-Slow: ")
    // Each byte comes well within the timeout; together they take six times it.
    for _ in 0..<20 {
      usleep(30_000)
      guard (try? client.send("a")) != nil else { break }
    }
    #expect(client.readResponse()?.status == 408)
    #expect(client.waitForClose())
  }

  @Test func idleConnectionsAreClosedQuietly() throws {
    let server = LoopLocal<HTTPServer>()
    let (runner, port) = try startServer(
      configure: tinyTimeouts, server: server, handler: echoHandler)
    defer { runner.stop() }
    let silent = try TestClient(port: port)
    let kept = try TestClient(port: port)
    let started = DispatchTime.now()
    try kept.send("GET /a HTTP/1.1\r\n\r\n")
    #expect(kept.readResponse()?.status == 200)
    #expect(kept.receiveOnce() == [])
    let elapsedMs = milliseconds(since: started)
    #expect(elapsedMs >= 95 && elapsedMs < 2000, "closed after \(elapsedMs) ms")
    #expect(silent.receiveOnce() == [])
    #expect(
      waitUntil(timeoutMs: 2000) { (try? runner.sync { server.value!.connectionCount }) == 0 })
  }

  @Test func longAnswersOutliveTheTimeouts() throws {
    let (runner, port) = try startServer(configure: tinyTimeouts) { loop, request, responder in
      if request.path == "/late" {
        LoopTimer.after(400, on: loop) { responder.respond(status: 200, body: Array("late".utf8)) }
        return
      }
      responder.startStream(status: 200)
      let sent = LoopLocal<Int>()
      sent.value = 0
      let timer = LoopLocal<LoopTimer>()
      timer.value = LoopTimer.every(150, on: loop) {
        sent.value! += 1
        responder.writeChunk(Array("tick \(sent.value!)\n".utf8))
        if sent.value == 3 {
          responder.endStream()
          timer.value?.cancel()
        }
      }
    }
    defer { runner.stop() }
    let client = try TestClient(port: port)
    let started = DispatchTime.now()
    try client.send("GET /late HTTP/1.1\r\n\r\n")
    #expect(client.readResponse()?.text == "late")
    // libuv's millisecond clock may fire the 400 ms timer a fraction early.
    #expect(milliseconds(since: started) >= 300)
    try client.send("GET /stream HTTP/1.1\r\n\r\n")
    let stream = try #require(client.readResponse())
    #expect(stream.chunks.count == 3)
    try client.send("GET /late HTTP/1.1\r\n\r\n")
    #expect(client.readResponse()?.status == 200)
  }
}
