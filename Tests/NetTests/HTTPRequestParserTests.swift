import Testing

@testable import Net

private func feed(_ parser: HTTPRequestParser, _ text: String) -> [HTTPRequestParser.Event] {
  Array(text.utf8).withUnsafeBytes { parser.feed($0) }
}

private func makeParser(maxHeaderBytes: Int = 8192, maxBodyBytes: Int = 1024) -> HTTPRequestParser {
  HTTPRequestParser(limits: .init(maxHeaderBytes: maxHeaderBytes, maxBodyBytes: maxBodyBytes))
}

private func requests(_ events: [HTTPRequestParser.Event]) -> [HTTPRequest] {
  events.compactMap { if case .request(let request) = $0 { request } else { nil } }
}

private func failures(_ events: [HTTPRequestParser.Event]) -> [Int] {
  events.compactMap { if case .failure(let status) = $0 { status } else { nil } }
}

@Suite struct HTTPRequestParserTests {
  @Test func parsesHeadPathQueryAndHeaders() throws {
    let events = feed(
      makeParser(),
      "GET /v2/keys/a%2Fb?wait=true&x=a+b%21&flag HTTP/1.1\r\nHost: h\r\nX-Mixed-Case: v1\r\nx-mixed-case: v2\r\n\r\n"
    )
    let request = try #require(requests(events).first)
    #expect(request.method == "GET")
    #expect(request.target == "/v2/keys/a%2Fb?wait=true&x=a+b%21&flag")
    #expect(request.path == "/v2/keys/a/b")
    #expect(request.queryValue("wait") == "true")
    #expect(request.queryValue("x") == "a b!")
    #expect(request.queryValue("flag") == "")
    #expect(request.headers["x-MIXED-case"] == "v1")
    #expect(request.headers.values("X-Mixed-Case") == ["v1", "v2"])
    #expect(request.keepAlive)
  }

  @Test func parsesPipelinedRequestsFedByteByByte() {
    let text =
      "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
      + "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
      + "GET /c HTTP/1.0\r\n\r\n"
    let parser = makeParser()
    var events: [HTTPRequestParser.Event] = []
    for byte in text.utf8 { events += [byte].withUnsafeBytes { parser.feed($0) } }
    let parsed = requests(events)
    #expect(parsed.map(\.path) == ["/a", "/b", "/c"])
    #expect(parsed.map { String(decoding: $0.body, as: UTF8.self) } == ["hello", "abcde", ""])
    #expect(parsed.map(\.keepAlive) == [true, true, false])
    #expect(failures(events).isEmpty)
  }

  @Test func refusesLargeContentLengthBeforeTheBody() {
    let events = feed(makeParser(), "PUT / HTTP/1.1\r\nContent-Length: 1025\r\n\r\n")
    #expect(failures(events) == [413])
  }

  @Test func refusesChunkedBodyOverTheLimit() {
    let parser = makeParser(maxBodyBytes: 4)
    let events = feed(parser, "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    #expect(failures(events) == [413])
    #expect(feed(parser, "GET / HTTP/1.1\r\n\r\n").isEmpty)
  }

  @Test func refusesHugeHeaders() {
    let big = String(repeating: "a", count: 9000)
    #expect(failures(feed(makeParser(), "GET / HTTP/1.1\r\nX: \(big)\r\n\r\n")) == [431])
    let many = String(repeating: "A: b\r\n", count: 2000)
    #expect(failures(feed(makeParser(), "GET / HTTP/1.1\r\n\(many)\r\n")) == [431])
  }

  @Test func refusesGarbage() {
    #expect(failures(feed(makeParser(), "\u{1}\u{2}garbage\r\n\r\n")) == [400])
    #expect(failures(feed(makeParser(), "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n")) == [400])
  }

  @Test func announcesExpectContinue() {
    let events = feed(
      makeParser(), "PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    guard case .expectsContinue = events.first else {
      Issue.record("no expectsContinue in \(events)")
      return
    }
  }

  @Test func everyPrefixOfAValidRequestIsIncompleteNotAnError() {
    let text = Array("POST /k?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc".utf8)
    for end in 0..<text.count {
      let events = text[..<end].withUnsafeBytes { makeParser().feed($0) }
      #expect(events.isEmpty, "prefix \(end) gave \(events)")
    }
  }

  @Test func randomAndMutatedInputNeverCrashes() {
    let seeds = [
      "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
      "POST /v2/keys/x HTTP/1.1\r\nContent-Length: 3\r\n\r\nv=1",
      "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ].map { Array($0.utf8) }
    var generator = SplitMix64(state: 0x5EED)
    for round in 0..<3000 {
      var input: [UInt8]
      if round % 3 == 0 {
        input = (0..<Int.random(in: 0..<200, using: &generator)).map { _ in
          UInt8.random(in: 0...255, using: &generator)
        }
      } else {
        input = seeds[round % seeds.count]
        for _ in 0..<Int.random(in: 1...6, using: &generator) {
          let index = Int.random(in: 0..<input.count, using: &generator)
          input[index] = UInt8.random(in: 0...255, using: &generator)
        }
        input = Array(input[..<Int.random(in: 0...input.count, using: &generator)])
      }
      let parser = makeParser(maxHeaderBytes: 64, maxBodyBytes: 8)
      var offset = 0
      var sawFailure = false
      while offset < input.count {
        let end = min(input.count, offset + Int.random(in: 1...32, using: &generator))
        let events = input[offset..<end].withUnsafeBytes { parser.feed($0) }
        // After a failure the parser stays silent.
        #expect(!(sawFailure && !events.isEmpty), "seed round \(round)")
        sawFailure = sawFailure || !failures(events).isEmpty
        offset = end
      }
    }
  }
}
