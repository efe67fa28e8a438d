import Dispatch
import Foundation
import Net
import Testing

/// The four kinds of calls and their errors, Swift client against Swift
/// server on loopback.
@Suite struct GRPCCallTests {
  @Test func unaryEchoesAndCarriesMetadata() throws {
    let fixture = try GRPCFixture.start()
    defer { fixture.stop() }
    let client = try fixture.connect()
    #expect(
      try fixture.unary(client, "/test.Echo/Unary", Array("hello".utf8)).get()
        == Array("hello".utf8))
    #expect(try fixture.unary(client, "/test.Echo/Unary", []).get() == [])
    let seen = try fixture.unary(
      client, "/test.Echo/Metadata", [],
      metadata: ["token": "t0k", "Authorization": "Bearer x", "X-Custom": "v"]
    ).get()
    #expect(String(decoding: seen, as: UTF8.self) == "t0k,Bearer x,v")
  }

  @Test func serverStreamingDeliversEveryMessageInOrder() throws {
    let fixture = try GRPCFixture.start()
    defer { fixture.stop() }
    let client = try fixture.connect()
    let outcome: StreamOutcome = try fixture.runner.wait { _, done in
      var outcome = StreamOutcome()
      client.value!.serverStreaming(
        "/test.Echo/Expand", request: Array("5".utf8), onMessage: { outcome.messages.append($0) },
        onFinish: {
          outcome.status = $0
          done(outcome)
        })
    }
    #expect(outcome.status == .ok)
    #expect(
      outcome.messages.map { String(decoding: $0, as: UTF8.self) } == ["0", "1", "2", "3", "4"])
  }

  @Test func clientStreamingCollectsUntilHalfClose() throws {
    let fixture = try GRPCFixture.start()
    defer { fixture.stop() }
    let client = try fixture.connect()
    let outcome: StreamOutcome = try fixture.runner.wait { loop, done in
      var outcome = StreamOutcome()
      let call = client.value!.makeCall(
        "/test.Echo/Collect", onMessage: { outcome.messages.append($0) },
        onFinish: {
          outcome.status = $0
          done(outcome)
        })
      call.send(Array("ab".utf8))
      // The rest later, so the server sees messages on separate reads.
      LoopTimer.after(20, on: loop) {
        call.send(Array("c".utf8))
        call.send([])
        call.send(Array("d".utf8))
        call.closeSend()
      }
    }
    #expect(outcome.status == .ok)
    #expect(outcome.messages == [Array("abcd".utf8)])
  }

  @Test func bidiAnswersEachMessageBeforeTheNextIsSent() throws {
    let fixture = try GRPCFixture.start()
    defer { fixture.stop() }
    let client = try fixture.connect()
    let outcome: StreamOutcome = try fixture.runner.wait { _, done in
      var outcome = StreamOutcome()
      let call = LoopLocal<GRPCClientCall>()
      call.value = client.value!.makeCall(
        "/test.Echo/Chat",
        onMessage: { message in
          outcome.messages.append(message)
          // Ping-pong: the next message goes only after this answer.
          if outcome.messages.count < 5 {
            call.value?.send(Array("m\(outcome.messages.count)".utf8))
          } else {
            call.value?.closeSend()
          }
        },
        onFinish: {
          outcome.status = $0
          call.value = nil
          done(outcome)
        })
      call.value?.send(Array("m0".utf8))
    }
    #expect(outcome.status == .ok)
    #expect(
      outcome.messages.map { String(decoding: $0, as: UTF8.self) } == (0..<5).map { "m\($0)" })
  }

  @Test func threeMiBMessagesCrossManyFramesBothWays() throws {
    let fixture = try GRPCFixture.start()
    defer { fixture.stop() }
    let client = try fixture.connect()
    let payload = patternBytes(3 << 20)
    let echoed = try fixture.unary(client, "/test.Echo/Unary", payload).get()
    #expect(echoed.count == payload.count)
    #expect(echoed == payload)
  }

  @Test func thousandConcurrentUnaryCallsShareOneConnection() throws {
    let fixture = try GRPCFixture.start()
    defer { fixture.stop() }
    let client = try fixture.connect()
    let started = DispatchTime.now()
    let inFlight = Locked(0)
    let answers: [Int: [UInt8]] = try fixture.runner.wait { _, done in
      var answers: [Int: [UInt8]] = [:]
      var pending = 1000
      for index in 0..<1000 {
        client.value!.unary("/test.Echo/Unary", request: Array("call \(index)".utf8)) { result in
          answers[index] = (try? result.get()) ?? []
          pending -= 1
          if pending == 0 { done(answers) }
        }
      }
      inFlight.update { $0 = client.value!.activeCallCount }
    }
    #expect(inFlight.value == 1000)
    let elapsedMs = (DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1_000_000
    #expect(answers.count == 1000)
    #expect((0..<1000).allSatisfy { answers[$0] == Array("call \($0)".utf8) })
    #expect(try fixture.runner.sync { fixture.server.value!.connectionCount } == 1)
    print("1000 concurrent unary calls on one connection: \(elapsedMs) ms")
  }

  @Test func oversizedRequestIsResourceExhaustedAndTheConnectionGoesOn() throws {
    let fixture = try GRPCFixture.start { $0.maxReceiveMessageBytes = 1 << 20 }
    defer { fixture.stop() }
    let client = try fixture.connect()
    let atLimit = patternBytes(1 << 20)
    #expect(try fixture.unary(client, "/test.Echo/Unary", atLimit).get() == atLimit)
    let result = try fixture.unary(client, "/test.Echo/Unary", atLimit + [1])
    #expect(
      result
        == .failure(
          GRPCStatus(
            .resourceExhausted, "grpc: received message larger than max (1048577 vs. 1048576)")
        ))
    #expect(try fixture.unary(client, "/test.Echo/Unary", [7]).get() == [7])
  }

  @Test func oversizedResponseIsRefusedByTheClient() throws {
    let fixture = try GRPCFixture.start()
    defer { fixture.stop() }
    let client = try fixture.connect { $0.maxReceiveMessageBytes = 1000 }
    let result = try fixture.unary(client, "/test.Echo/Unary", patternBytes(1001))
    #expect(
      result
        == .failure(
          GRPCStatus(.resourceExhausted, "grpc: received message larger than max (1001 vs. 1000)")))
  }

  @Test func unknownServiceAndMethodAreUnimplementedInGrpcGoWords() throws {
    let fixture = try GRPCFixture.start()
    defer { fixture.stop() }
    let client = try fixture.connect()
    #expect(
      try fixture.unary(client, "/etcdserverpb.Foo/Range", [])
        == .failure(GRPCStatus(.unimplemented, "unknown service etcdserverpb.Foo")))
    #expect(
      try fixture.unary(client, "/test.Echo/Bar", [])
        == .failure(GRPCStatus(.unimplemented, "unknown method Bar for service test.Echo")))
    #expect(
      try fixture.unary(client, "/nomethod", [])
        == .failure(GRPCStatus(.resourceExhausted, "malformed method name: \"/nomethod\"")))
  }

  @Test func malformedTimeoutsAndCompressedRequestsAreRefusedInGrpcGoWords() throws {
    let fixture = try GRPCFixture.start()
    defer { fixture.stop() }
    let client = try fixture.connect()
    #expect(
      try fixture.unary(client, "/test.Echo/Unary", [], metadata: ["grpc-timeout": "soon"])
        == .failure(GRPCStatus(.internalError, "transport: malformed time-out: soon")))
    #expect(
      try fixture.unary(client, "/test.Echo/Unary", [], metadata: ["grpc-encoding": "gzip"])
        == .failure(
          GRPCStatus(
            .unimplemented, "grpc: Decompressor is not installed for grpc-encoding \"gzip\"")
        ))
    #expect(try fixture.unary(client, "/test.Echo/Unary", [5]).get() == [5])
  }

  @Test func statusMessagesSurviveTheWireWhateverTheirBytes() throws {
    let fixture = try GRPCFixture.start()
    defer { fixture.stop() }
    let client = try fixture.connect()
    for text in ["etcdserver: key not found", "100% ünïcode\twith\r\nbreaks", ""] {
      #expect(
        try fixture.unary(client, "/test.Echo/Fail", Array(text.utf8))
          == .failure(GRPCStatus(.invalidArgument, text)))
    }
  }

  @Test func serverDeadlineCancelsTheHandlerAndAnswersDeadlineExceeded() throws {
    let fixture = try GRPCFixture.start()
    defer { fixture.stop() }
    let client = try fixture.connect()
    let started = DispatchTime.now()
    // grpc-timeout by hand and no client timer: the answer must be the server's.
    let result = try fixture.unary(
      client, "/test.Echo/Hang", [], metadata: ["grpc-timeout": "100m"])
    let elapsedMs = (DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1_000_000
    #expect(result == .failure(GRPCStatus(.deadlineExceeded, "context deadline exceeded")))
    // The loop's clock counts whole milliseconds.
    #expect(elapsedMs >= 98 && elapsedMs < 2000, "answered after \(elapsedMs) ms")
    #expect(fixture.probe.cancelled.value == 1)
    #expect(fixture.probe.deadlines.value.count == 1 && fixture.probe.deadlines.value[0] != nil)
  }

  @Test func clientDeadlineEndsTheCallAndReachesTheServer() throws {
    let fixture = try GRPCFixture.start()
    defer { fixture.stop() }
    let client = try fixture.connect()
    let result = try fixture.unary(client, "/test.Echo/Hang", [], timeoutMs: 50)
    #expect(result == .failure(GRPCStatus(.deadlineExceeded, "context deadline exceeded")))
    #expect(waitUntil { fixture.probe.cancelled.value == 1 })
  }

  @Test func clientCancellationReachesTheHandler() throws {
    let fixture = try GRPCFixture.start()
    defer { fixture.stop() }
    let client = try fixture.connect()
    let call = LoopLocal<GRPCClientCall>()
    let status = Locked<GRPCStatus?>(nil)
    _ = try fixture.runner.sync {
      call.value = client.value!.serverStreaming(
        "/test.Echo/Hang", request: [], onMessage: { _ in },
        onFinish: { finished in status.update { $0 = finished } })
      return true
    }
    #expect(waitUntil { fixture.probe.hung.value == 1 })
    #expect(fixture.probe.cancelled.value == 0)
    _ = try fixture.runner.sync {
      call.value!.cancel()
      return true
    }
    #expect(status.value == GRPCStatus(.cancelled, "context canceled"))
    #expect(waitUntil { fixture.probe.cancelled.value == 1 })
    #expect(try fixture.unary(client, "/test.Echo/Unary", [1]).get() == [1])
  }

  @Test func aStreamPastItsHighWaterMarkWaitsForOnWritable() throws {
    let fixture = try GRPCFixture.start { $0.callWriteHighWaterMark = 128 * 1024 }
    defer { fixture.stop() }
    let client = try fixture.connect()
    let outcome: StreamOutcome = try fixture.runner.wait { _, done in
      var outcome = StreamOutcome()
      client.value!.serverStreaming(
        "/test.Echo/Flood", request: Array("64".utf8),
        onMessage: {
          outcome.messages.append(Array($0.prefix(1)) + [UInt8($0.count >> 10 & 0xFF)])
        },
        onFinish: {
          outcome.status = $0
          done(outcome)
        })
    }
    #expect(outcome.status == .ok)
    #expect(outcome.messages.count == 64)
    #expect(outcome.messages.allSatisfy { $0 == [0x66, 64] })
    #expect(fixture.probe.blocked.value > 0, "the handler never had to wait")
  }
}
