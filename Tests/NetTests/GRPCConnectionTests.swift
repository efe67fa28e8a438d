import Dispatch
import Foundation
import Net
import Testing

/// Connection-wide behaviour: shutdown, bad peers, keepalive, sharing a
/// port with HTTP/1.1.
@Suite struct GRPCConnectionTests {
  @Test func shutdownSendsGoAwayAndLetsCallsInFlightFinish() throws {
    let fixture = try GRPCFixture.start()
    defer { fixture.stop() }
    let client = try fixture.connect()
    let events = Locked<[String]>([])
    let slow = Locked<Result<[UInt8], GRPCStatus>?>(nil)
    _ = try fixture.runner.sync {
      client.value!.onGoAway = { events.update { $0.append("goaway") } }
      client.value!.onClose = { _ in events.update { $0.append("closed") } }
      client.value!.unary("/test.Echo/Slow", request: [9]) { result in
        slow.update { $0 = result }
        events.update { $0.append("answered") }
      }
      return true
    }
    #expect(waitUntil { fixture.probe.slow.value == 1 })
    let shutDown = Locked(false)
    _ = try fixture.runner.sync {
      fixture.server.value!.shutdown(deadlineMs: 5000) { shutDown.update { $0 = true } }
      return true
    }
    #expect(waitUntil { events.value.contains("goaway") })
    #expect(events.value == ["goaway"], "the slow call ended before its time")
    let late = try fixture.unary(client, "/test.Echo/Unary", [1])
    #expect(late == .failure(GRPCStatus(.unavailable, "transport is closing")))
    #expect(waitUntil { shutDown.value && events.value.count == 3 })
    #expect(events.value == ["goaway", "answered", "closed"])
    #expect(slow.value == .success([9]))
    #expect(fixture.probe.cancelled.value == 0)
    #expect(throws: (any Error).self) { try fixture.connect() }
  }

  @Test func shutdownDeadlineCancelsCallsStillRunning() throws {
    let fixture = try GRPCFixture.start()
    defer { fixture.stop() }
    let client = try fixture.connect()
    let hang = Locked<Result<[UInt8], GRPCStatus>?>(nil)
    _ = try fixture.runner.sync {
      client.value!.unary("/test.Echo/Hang", request: []) { result in hang.update { $0 = result } }
      return true
    }
    #expect(waitUntil { fixture.probe.hung.value == 1 })
    let started = DispatchTime.now()
    let shutDown = Locked(false)
    _ = try fixture.runner.sync {
      fixture.server.value!.shutdown(deadlineMs: 100) { shutDown.update { $0 = true } }
      return true
    }
    #expect(waitUntil { shutDown.value })
    let elapsedMs = (DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1_000_000
    // The loop's clock counts whole milliseconds, cached per iteration.
    #expect(elapsedMs >= 95, "shut down after \(elapsedMs) ms")
    #expect(fixture.probe.cancelled.value == 1)
    #expect(waitUntil { hang.value != nil })
    #expect(hang.value == .failure(GRPCStatus(.unavailable, "transport is closing")))
    #expect(try fixture.runner.sync { client.value!.isAvailable } == false)
  }

  @Test(arguments: [
    ("not the preface", Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)),
    // A PING on stream 0 before any SETTINGS frame.
    (
      "a frame before SETTINGS",
      ProtocolSniffer.http2Preface + [0, 0, 8, 6, 0, 0, 0, 0, 0] + [UInt8](repeating: 1, count: 8)
    ),
    // SETTINGS with a length that is not a multiple of 6.
    (
      "a malformed SETTINGS frame",
      ProtocolSniffer.http2Preface + [0, 0, 5, 4, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5]
    ),
  ])
  func malformedInputClosesOnlyThatConnection(label: String, bytes: [UInt8]) throws {
    let fixture = try GRPCFixture.start()
    defer { fixture.stop() }
    let good = try fixture.connect()
    #expect(try fixture.unary(good, "/test.Echo/Unary", [1]).get() == [1])
    var bad: TestClient? = try TestClient(port: fixture.port)
    try bad?.send(bytes)
    #expect(bad?.waitForClose() == true, "\(label): still open")
    #expect(try fixture.unary(good, "/test.Echo/Unary", [2]).get() == [2])
    // The server let go of it once our side closed too.
    bad = nil
    #expect(waitUntil { (try? fixture.runner.sync { fixture.server.value!.connectionCount }) == 1 })
  }

  @Test func keepaliveDropsASilentPeerButNotALiveOne() throws {
    let fixture = try GRPCFixture.start {
      $0.http2.keepaliveIntervalMs = 50
      $0.http2.keepaliveTimeoutMs = 100
    }
    defer { fixture.stop() }
    let live = try fixture.connect()
    let silent = try TestClient(port: fixture.port)
    // The preface and an empty SETTINGS frame, then nothing, not even a PING ACK.
    try silent.send(ProtocolSniffer.http2Preface + [0, 0, 0, 4, 0, 0, 0, 0, 0])
    let started = DispatchTime.now()
    #expect(silent.waitForClose())
    let elapsedMs = (DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1_000_000
    #expect(elapsedMs >= 95 && elapsedMs < 2000, "dropped after \(elapsedMs) ms")
    usleep(300_000)
    #expect(try fixture.unary(live, "/test.Echo/Unary", [3]).get() == [3])
  }

  @Test func oneListenerServesHTTP1AndGRPC() throws {
    let fixture = try GRPCFixture.start(sharingPortWithHTTP: true)
    defer { fixture.stop() }
    let client = try fixture.connect()
    #expect(try fixture.unary(client, "/test.Echo/Unary", [4]).get() == [4])
    let http = try TestClient(port: fixture.port)
    try http.send("GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
    #expect(http.readResponse()?.text == "http1")
  }
}

extension GRPCConnectionTests {
  @Test func clientCloseCancelsItsCallsAndTheServerLetsGo() throws {
    let fixture = try GRPCFixture.start()
    defer { fixture.stop() }
    let client = try fixture.connect()
    let hang = Locked<Result<[UInt8], GRPCStatus>?>(nil)
    let closed = Locked(false)
    _ = try fixture.runner.sync {
      client.value!.onClose = { _ in closed.update { $0 = true } }
      client.value!.unary("/test.Echo/Hang", request: []) { result in hang.update { $0 = result } }
      return true
    }
    #expect(waitUntil { fixture.probe.hung.value == 1 })
    _ = try fixture.runner.sync {
      client.value!.close()
      return true
    }
    #expect(
      hang.value == .failure(GRPCStatus(.cancelled, "grpc: the client connection is closing")))
    #expect(waitUntil { closed.value })
    #expect(waitUntil { fixture.probe.cancelled.value == 1 })
    #expect(waitUntil { (try? fixture.runner.sync { fixture.server.value!.connectionCount }) == 0 })
  }
}
