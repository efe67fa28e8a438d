import Testing

@testable import Net

/// Records what an HTTPConnection asks of its transport.
private final class RecordingTransport: HTTPTransport {
  var output: [UInt8] = []
  var isReading = true
  var closedAfterFlush = false
  var closed = false
  var queuedWriteBytes = 0
  /// The output without its Date lines, which change every second.
  var text: String {
    String(decoding: output, as: UTF8.self).split(
      separator: "\r\n", omittingEmptySubsequences: false
    )
    .filter { !$0.hasPrefix("Date: ") }.joined(separator: "\r\n")
  }

  func write(_ bytes: [UInt8]) { output += bytes }
  func startReading() { isReading = true }
  func stopReading() { isReading = false }
  func closeAfterFlush() { closedAfterFlush = true }
  func close() { closed = true }
}

private func makeConnection(
  maxPipelined: Int = 16, handler: @escaping (HTTPRequest, HTTPResponder) -> Void
) -> (HTTPConnection, RecordingTransport) {
  let transport = RecordingTransport()
  let limits = HTTPConnection.Limits(
    parser: .init(maxHeaderBytes: 4096, maxBodyBytes: 1024), maxPipelinedRequests: maxPipelined,
    maxBufferedResponseBytes: 1 << 20, requestReadTimeoutMs: readTimeoutMs,
    idleTimeoutMs: idleTimeoutMs)
  return (HTTPConnection(transport: transport, limits: limits, handler: handler), transport)
}

private let readTimeoutMs: UInt64 = 1000
private let idleTimeoutMs: UInt64 = 5000
private let timeoutBody = "Request Timeout\n"

private func receive(_ connection: HTTPConnection, _ text: String) {
  Array(text.utf8).withUnsafeBytes { connection.receive($0) }
}

@Suite struct HTTPConnectionTests {
  @Test func answersStayInRequestOrderWhenTheFirstIsLate() {
    var responders: [HTTPResponder] = []
    let (connection, transport) = makeConnection { _, responder in responders.append(responder) }
    receive(connection, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n")
    #expect(responders.count == 2)
    responders[1].respond(status: 200, body: Array("second".utf8))
    #expect(transport.output.isEmpty)
    responders[0].respond(status: 200, body: Array("first".utf8))
    let text = transport.text
    let first = text.range(of: "first")!.lowerBound
    let second = text.range(of: "second")!.lowerBound
    #expect(first < second)
    #expect(!transport.closedAfterFlush)
  }

  @Test func connectionCloseEndsIntakeAfterTheAnswer() {
    var seen: [String] = []
    let (connection, transport) = makeConnection { request, responder in
      seen.append(request.path)
      responder.respond(status: 204)
    }
    receive(connection, "GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
    #expect(seen == ["/a"])
    #expect(transport.text.hasPrefix("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"))
    #expect(transport.closedAfterFlush)
  }

  @Test func everyAnswerCarriesItsDate() {
    let (connection, transport) = makeConnection { _, responder in responder.respond(status: 204) }
    receive(connection, "GET /a HTTP/1.1\r\n\r\n")
    let raw = String(decoding: transport.output, as: UTF8.self)
    let date = raw.split(separator: "\r\n").first { $0.hasPrefix("Date: ") }
    #expect(date?.count == "Date: Sun, 06 Nov 1994 08:49:37 GMT".count)
    #expect(date?.hasSuffix(" GMT") == true)
    #expect(HTTPResponseEncoder.httpDate(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
  }

  @Test func parseFailureWaitsForEarlierAnswers() {
    var pending: HTTPResponder?
    let (connection, transport) = makeConnection { _, responder in pending = responder }
    receive(connection, "GET /a HTTP/1.1\r\n\r\n\u{0}junk\r\n\r\n")
    #expect(transport.output.isEmpty)
    pending?.respond(status: 200, body: Array("ok".utf8))
    #expect(transport.text.hasPrefix("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
    #expect(transport.text.contains("HTTP/1.1 400 Bad Request"))
    #expect(transport.closedAfterFlush)
  }

  @Test func aPathWithABrokenEscapeIsRefusedAsGoRefusesIt() {
    var handled: [String] = []
    let (connection, transport) = makeConnection { request, responder in
      handled.append(request.path)
      responder.respond(status: 200)
    }
    receive(connection, "GET /a%2Fb%41?q=%ZZ HTTP/1.1\r\n\r\nGET /ab%ZZ HTTP/1.1\r\n\r\n")
    #expect(handled == ["/a/bA"])
    #expect(transport.text.hasSuffix("\r\n\r\n400 Bad Request"), "\(transport.text)")
    #expect(transport.closedAfterFlush)
  }

  @Test func streamingUsesChunksAndHTTP10ClosesInstead() {
    var responders: [HTTPResponder] = []
    let (connection, transport) = makeConnection { _, responder in responders.append(responder) }
    receive(connection, "GET /w HTTP/1.1\r\n\r\n")
    responders[0].startStream(status: 200, headers: ["Content-Type": "application/json"])
    responders[0].writeChunk(Array("abc".utf8))
    responders[0].writeChunk([])
    responders[0].endStream()
    #expect(
      transport.text
        == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )
    let (old, oldTransport) = makeConnection { _, responder in responders.append(responder) }
    receive(old, "GET /w HTTP/1.0\r\n\r\n")
    responders[1].startStream(status: 200)
    responders[1].writeChunk(Array("abc".utf8))
    responders[1].endStream()
    #expect(oldTransport.text == "HTTP/1.0 200 OK\r\n\r\nabc")
    #expect(oldTransport.closedAfterFlush)
  }

  @Test func http10KeepAliveSaysSoAndDefaultHeadersFillIn() {
    let (connection, transport) = makeConnection { _, responder in
      responder.defaultHeaders = ["Access-Control-Allow-Origin": "*", "Content-Type": "a/b"]
      responder.respond(status: 200, headers: ["Content-Type": "text/plain"])
    }
    receive(connection, "GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    #expect(
      transport.text.hasPrefix(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nAccess-Control-Allow-Origin: *\r\n"),
      "\(transport.text)")
    #expect(transport.text.hasSuffix("Content-Length: 0\r\nConnection: keep-alive\r\n\r\n"))
    #expect(!transport.closedAfterFlush)
  }

  @Test func peerEOFFiresOnCloseForOpenResponses() {
    var closes = 0
    var kept: HTTPResponder?
    let (connection, transport) = makeConnection { _, responder in
      responder.onClose = { closes += 1 }
      kept = responder
    }
    receive(connection, "GET /wait HTTP/1.1\r\n\r\n")
    connection.peerClosed()
    #expect(closes == 1)
    #expect(kept?.isClosed == true)
    kept?.respond(status: 200)
    #expect(transport.output.isEmpty)
    connection.transportClosed()
    #expect(closes == 1)
  }

  @Test func tooManyOpenRequestsPauseReading() {
    var responders: [HTTPResponder] = []
    let (connection, transport) = makeConnection(maxPipelined: 2) { _, responder in
      responders.append(responder)
    }
    receive(connection, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n")
    #expect(!transport.isReading)
    responders[0].respond(status: 200)
    #expect(transport.isReading)
  }

  @Test func headResponsesCarryLengthButNoBody() {
    let (connection, transport) = makeConnection { _, responder in
      responder.respond(status: 200, body: Array("hidden".utf8))
    }
    receive(connection, "HEAD / HTTP/1.1\r\n\r\n")
    #expect(transport.text == "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n")
  }

  @Test func randomInputThroughTheConnectionNeverTraps() {
    var generator = SplitMix64(state: 0xC0FFEE)
    let valid = Array("GET /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nxPOST /b HTTP/1.0\r\n\r\n".utf8)
    for round in 0..<2000 {
      var late: [HTTPResponder] = []
      var count = 0
      let (connection, transport) = makeConnection(maxPipelined: 4) { _, responder in
        // Half answered at once, half later: both orders must hold up.
        count += 1
        if count % 2 == 0 { responder.respond(status: 200) } else { late.append(responder) }
      }
      var input = valid
      for _ in 0..<Int.random(in: 0...8, using: &generator) {
        input[Int.random(in: 0..<input.count, using: &generator)] = UInt8.random(
          in: 0...255, using: &generator)
      }
      if round % 4 == 0 {
        input = (0..<64).map { _ in UInt8.random(in: 0...255, using: &generator) }
      }
      input.withUnsafeBytes { connection.receive($0) }
      for responder in late where !responder.isClosed {
        if !transport.closedAfterFlush { responder.respond(status: 204) }
      }
      if round % 3 == 0 { connection.peerClosed() }
      connection.transportClosed()
    }
  }

  @Test(arguments: [
    "GET /a HTTP/1.1\r\nHost: ex", "PUT /k HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
  ])
  func partialRequestExpiresWith408AndCloses(partial: String) {
    var handled = 0
    let (connection, transport) = makeConnection { _, _ in handled += 1 }
    receive(connection, partial)
    connection.expire(now: 100)
    connection.expire(now: 100 + readTimeoutMs - 1)
    #expect(transport.output.isEmpty)
    connection.expire(now: 100 + readTimeoutMs)
    #expect(transport.text.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
    #expect(transport.text.contains("Connection: close\r\n"))
    #expect(transport.text.contains("Content-Type: text/plain"))
    #expect(transport.text.hasSuffix("\r\n\r\n\(timeoutBody)"))
    #expect(transport.closedAfterFlush)
    #expect(handled == 0)
    receive(connection, "t\r\n\r\n")
    #expect(handled == 0)
  }

  @Test func aRequestsFirstByteSwitchesFromTheIdleToTheReadTimeout() {
    let (connection, transport) = makeConnection { _, responder in responder.respond(status: 204) }
    connection.expire(now: 0)
    receive(connection, "G")
    connection.expire(now: 1000)
    connection.expire(now: 1000 + readTimeoutMs - 1)
    #expect(transport.output.isEmpty)
    connection.expire(now: 1000 + readTimeoutMs)
    #expect(transport.text.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
    #expect(1000 + readTimeoutMs < idleTimeoutMs)
  }

  @Test func slowAnswersNeverExpire() {
    var responders: [HTTPResponder] = []
    let (connection, transport) = makeConnection { _, responder in responders.append(responder) }
    // A long-poll, and behind it the start of the next request.
    receive(connection, "GET /wait HTTP/1.1\r\n\r\nGET /stream HTTP/1.1\r\nHo")
    for now: UInt64 in stride(from: 0, through: 100 * idleTimeoutMs, by: 500) {
      connection.expire(now: now)
    }
    #expect(transport.output.isEmpty)
    #expect(!transport.closed && !transport.closedAfterFlush)
    let answeredAt = 100 * idleTimeoutMs
    responders[0].respond(status: 200)
    receive(connection, "st: h\r\n\r\n")
    responders[1].startStream(status: 200)
    for now in stride(from: answeredAt, through: answeredAt + 100 * idleTimeoutMs, by: 500) {
      responders[1].writeChunk(Array("event\n".utf8))
      connection.expire(now: now)
    }
    responders[1].endStream()
    #expect(!transport.text.contains("408"))
    #expect(!transport.closed && !transport.closedAfterFlush)
  }

  @Test func requestBehindAnAnswerIsTimedFromWhenTheAnswerEnded() {
    var pending: HTTPResponder?
    let (connection, transport) = makeConnection { _, responder in pending = responder }
    receive(connection, "GET /wait HTTP/1.1\r\n\r\nGET /next HT")
    connection.expire(now: 0)
    connection.expire(now: 10 * readTimeoutMs)
    pending?.respond(status: 200)
    connection.expire(now: 10 * readTimeoutMs + 1)
    connection.expire(now: 11 * readTimeoutMs)
    #expect(!transport.text.contains("408"))
    connection.expire(now: 11 * readTimeoutMs + 1)
    #expect(transport.text.hasPrefix("HTTP/1.1 200 OK\r\n"))
    #expect(transport.text.hasSuffix(timeoutBody))
    #expect(transport.closedAfterFlush)
  }

  @Test func idleConnectionClosesQuietly() {
    let (connection, transport) = makeConnection { _, responder in responder.respond(status: 204) }
    connection.expire(now: 0)
    connection.expire(now: idleTimeoutMs - 1)
    #expect(!transport.closed)
    connection.expire(now: idleTimeoutMs)
    #expect(transport.closed)
    #expect(transport.output.isEmpty)
  }

  @Test func aFreshRequestRestartsTheIdleClock() {
    let (connection, transport) = makeConnection { _, responder in responder.respond(status: 204) }
    connection.expire(now: 0)
    receive(connection, "GET /a HTTP/1.1\r\n\r\n")
    connection.expire(now: 4000)
    connection.expire(now: 4000 + idleTimeoutMs - 1)
    #expect(!transport.closed)
    connection.expire(now: 4000 + idleTimeoutMs)
    #expect(transport.closed)
    #expect(transport.text == "HTTP/1.1 204 No Content\r\n\r\n")
  }

  @Test func anAnswerStillQueuedKeepsTheConnectionBusy() {
    let (connection, transport) = makeConnection { _, responder in
      responder.respond(status: 200, body: Array("big".utf8))
    }
    receive(connection, "GET /big HTTP/1.1\r\n\r\n")
    transport.queuedWriteBytes = 1 << 20
    connection.expire(now: 0)
    connection.expire(now: 10 * idleTimeoutMs)
    #expect(!transport.closed)
    transport.queuedWriteBytes = 0
    connection.expire(now: 10 * idleTimeoutMs + 1)
    connection.expire(now: 11 * idleTimeoutMs)
    #expect(!transport.closed)
    connection.expire(now: 11 * idleTimeoutMs + 1)
    #expect(transport.closed)
  }
}
