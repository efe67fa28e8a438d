import Testing

@testable import Net

/// gRPC's wire details, without sockets.
@Suite struct GRPCWireTests {
  private func framed(_ message: [UInt8]) -> [UInt8] {
    GRPCMessageDecoder.prefix(forLength: message.count) + message
  }

  @Test func decoderReassemblesMessagesHoweverTheBytesAreSplit() throws {
    let messages = [Array("first".utf8), [], patternBytes(70_000)]
    let wire = messages.flatMap(framed)
    for chunkSize in [1, 2, 5, 7, 4096, wire.count] {
      var decoder = GRPCMessageDecoder(maxMessageBytes: 1 << 20)
      var decoded: [[UInt8]] = []
      var offset = 0
      while offset < wire.count {
        let end = min(offset + chunkSize, wire.count)
        decoded += try wire[offset..<end].withUnsafeBytes { try decoder.feed($0) }
        offset = end
      }
      #expect(decoded == messages, "chunks of \(chunkSize)")
      #expect(!decoder.isMidMessage)
    }
  }

  @Test func decoderRefusesOversizedCompressedAndUnknownFlags() {
    var decoder = GRPCMessageDecoder(maxMessageBytes: 10)
    // Refused from the prefix alone, before any payload arrives.
    #expect(throws: GRPCMessageDecoder.Failure.tooLarge(11)) {
      try ([0, 0, 0, 0, 11] as [UInt8]).withUnsafeBytes { try decoder.feed($0) }
    }
    decoder = GRPCMessageDecoder(maxMessageBytes: 10)
    #expect(throws: GRPCMessageDecoder.Failure.compressed) {
      try ([1, 0, 0, 0, 1, 9] as [UInt8]).withUnsafeBytes { try decoder.feed($0) }
    }
    decoder = GRPCMessageDecoder(maxMessageBytes: 10)
    #expect(throws: GRPCMessageDecoder.Failure.badFlag(2)) {
      try ([2, 0, 0, 0, 0] as [UInt8]).withUnsafeBytes { try decoder.feed($0) }
    }
    let status = GRPCMessageDecoder.Failure.tooLarge(11).status(limit: 10) { "\($0) > \($1)" }
    #expect(status == GRPCStatus(.resourceExhausted, "11 > 10"))
  }

  @Test func outboxFramesMessagesAndEndsWithTrailers() {
    var outbox = GRPCOutbox()
    outbox.append(message: Array("abc".utf8))
    outbox.append(message: patternBytes(100))
    #expect(outbox.count == 5 + 3 + 5 + 100)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 1)
    defer { buffer.deallocate() }
    var wire: [UInt8] = []
    while case .bytes(let count) = outbox.read(into: buffer) {
      wire += buffer[..<count]
    }
    #expect(wire == framed(Array("abc".utf8)) + framed(patternBytes(100)))
    #expect(outbox.read(into: buffer) == .deferred)
    outbox.close(trailers: ["grpc-status": "0"])
    #expect(outbox.read(into: buffer) == .end(0, trailers: ["grpc-status": "0"]))
    #expect(outbox.isEnded)
  }

  @Test func outboxEndsWithTheLastBytesWhenClosedEarly() {
    var outbox = GRPCOutbox()
    outbox.append(message: [1, 2])
    outbox.close(trailers: nil)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
    defer { buffer.deallocate() }
    #expect(outbox.read(into: buffer) == .end(7, trailers: nil))
    #expect(Array(buffer[..<7]) == [0, 0, 0, 0, 2, 1, 2])
  }

  @Test func timeoutsParseEveryUnitAndRoundUp() {
    #expect(GRPCTimeout.parse("1H") == 3_600_000)
    #expect(GRPCTimeout.parse("2M") == 120_000)
    #expect(GRPCTimeout.parse("5S") == 5000)
    #expect(GRPCTimeout.parse("250m") == 250)
    #expect(GRPCTimeout.parse("1500u") == 2)
    #expect(GRPCTimeout.parse("1n") == 1)
    #expect(GRPCTimeout.parse("0m") == 0)
    #expect(GRPCTimeout.parse("99999999S") == 99_999_999_000)
    for bad in ["", "m", "123456789m", "10x", "-1S", "1.5S", "10 S"] {
      #expect(GRPCTimeout.parse(bad) == nil, "\(bad)")
    }
    #expect(GRPCTimeout.encode(milliseconds: 5000) == "5000m")
    #expect(GRPCTimeout.encode(milliseconds: 100_000_000) == "100000S")
    #expect(
      GRPCTimeout.parse(GRPCTimeout.encode(milliseconds: 123_456_789_012)) ?? 0 >= 123_456_789_012)
  }

  @Test func messagesArePercentEncodedOutsidePrintableASCII() {
    #expect(GRPCPercentEncoding.encode("etcdserver: key not found") == "etcdserver: key not found")
    #expect(GRPCPercentEncoding.encode("100% é\n") == "100%25 %C3%A9%0A")
    #expect(GRPCPercentEncoding.decode("100%25 %C3%A9%0a") == "100% é\n")
    // Malformed escapes are kept as they came.
    #expect(GRPCPercentEncoding.decode("50%") == "50%")
    #expect(GRPCPercentEncoding.decode("%zz%4") == "%zz%4")
  }

  @Test func statusComesFromTrailersThenFromTheHTTPStatus() {
    #expect(
      GRPCStatus(trailers: ["grpc-status": "5", "grpc-message": "not%20found"])
        == GRPCStatus(.notFound, "not found"))
    #expect(GRPCStatus(trailers: ["grpc-status": "99"]).code == .unknown)
    #expect(GRPCStatus(trailers: [":status": "404"]).code == .unimplemented)
    #expect(GRPCStatus(trailers: [":status": "503"]).code == .unavailable)
    #expect(
      GRPCStatus(resetCode: 8)
        == GRPCStatus(.cancelled, "stream terminated by RST_STREAM with error code: CANCEL"))
    #expect(GRPCStatus(resetCode: 7).code == .unavailable)
    #expect(
      GRPCStatus(.unimplemented, "unknown service x").description
        == "rpc error: code = Unimplemented desc = unknown service x")
    #expect(GRPCStatus(.internalError, "a\nb").fields.map(\.value) == ["13", "a%0Ab"])
  }
}
