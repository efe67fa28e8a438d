import Dispatch
import Foundation
import Testing

@testable import Net

@Suite struct HTTPClientTests {
  @Test func parseCutsTheBodyToContentLength() throws {
    let raw = Array("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nX-A:  b\r\n\r\nabcdef".utf8)
    let response = try #require(HTTPClient.parse(raw))
    #expect(response.status == 404)
    #expect(response.headers["x-a"] == "b")
    #expect(response.body == Array("abc".utf8))
  }

  @Test func parseRefusesWhatIsNotAWholeResponse() {
    #expect(HTTPClient.parse(Array("HTTP/1.1 200 OK\r\nContent-Length: 1".utf8)) == nil)
    #expect(HTTPClient.parse(Array("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab".utf8)) == nil)
    #expect(HTTPClient.parse(Array("SSH-2.0 x\r\n\r\n".utf8)) == nil)
  }

  /// Sends one request from the loop and waits for its outcome.
  private func send(
    to port: Int, timeoutMs: UInt64, on runner: LoopThread
  ) throws -> Result<HTTPClient.Response, NetError> {
    let outcome = Locked<Result<HTTPClient.Response, NetError>?>(nil)
    let loop = runner.loop
    let address = try SocketAddress(host: "127.0.0.1", port: port)
    runner.loop.post {
      HTTPClient.send(
        "POST", "/echo", body: Array("ping".utf8), contentType: "application/protobuf",
        to: address, on: loop, timeoutMs: timeoutMs
      ) { result in outcome.update { $0 = result } }
    }
    try #require(waitUntil(timeoutMs: 5000) { outcome.value != nil }, "no outcome within 5 s")
    return try #require(outcome.value)
  }

  @Test func postGetsTheServersWholeAnswer() throws {
    let held = LoopLocal<HTTPServer>()
    let (runner, port) = try LoopThread.start { loop in
      let server = HTTPServer(loop: loop, configuration: HTTPServer.Configuration()) {
        request, responder in
        let body = Array("\(request.method) \(request.path) ".utf8) + request.body
        responder.respond(
          status: 201, headers: ["X-Kind": request.headers["content-type"] ?? ""], body: body)
      }
      held.value = server
      return try server.listen(on: SocketAddress(host: "127.0.0.1", port: 0)).localAddress.port
    }
    defer { runner.stop() }
    let response = try send(to: port, timeoutMs: 2000, on: runner).get()
    #expect(response.status == 201)
    #expect(response.headers["x-kind"] == "application/protobuf")
    #expect(String(decoding: response.body, as: UTF8.self) == "POST /echo ping")
  }

  @Test func aSilentServerTimesOut() throws {
    let (runner, port) = try LoopThread.start { loop in
      let listener = try TCPListener(loop: loop, address: SocketAddress(host: "127.0.0.1", port: 0))
      {
        connection in
        connection.onRead = { _ in }
        connection.startReading()
      }
      return listener.localAddress.port
    }
    defer { runner.stop() }
    let started = DispatchTime.now()
    guard case .failure(.timedOut) = try send(to: port, timeoutMs: 200, on: runner) else {
      Issue.record("expected a time-out")
      return
    }
    #expect(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds < 2_000_000_000)
  }

  @Test func aClosedPortFails() throws {
    let (runner, _) = try LoopThread.start { _ in 0 }
    defer { runner.stop() }
    let (probe, port) = try LoopThread.start { loop in
      try TCPListener(loop: loop, address: SocketAddress(host: "127.0.0.1", port: 0)) { _ in }
        .localAddress.port
    }
    probe.stop()
    guard case .failure(let error) = try send(to: port, timeoutMs: 2000, on: runner) else {
      Issue.record("expected a refusal")
      return
    }
    #expect(error != .timedOut)
  }
}
