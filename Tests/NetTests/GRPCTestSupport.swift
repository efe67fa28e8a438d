import Dispatch
import Foundation
import Net

/// What the test service's handlers report to the test thread.
final class GRPCProbe: Sendable {
  /// Calls of /test.Echo/Hang that arrived.
  let hung = Locked(0)
  /// Calls of /test.Echo/Slow that arrived.
  let slow = Locked(0)
  /// Calls whose handler heard onCancel.
  let cancelled = Locked(0)
  /// Deadlines (loop clock) the handlers saw, nil for none.
  let deadlines = Locked<[UInt64?]>([])
  /// Times a streaming handler found its call not writable.
  let blocked = Locked(0)
}

/// Registers the test service, /test.Echo/*, on `server`.
func registerEchoService(on server: GRPCServer, loop: EventLoop, probe: GRPCProbe) {
  server.register("/test.Echo/Unary", .unary { call, request in call.respond(request) })
  server.register(
    "/test.Echo/Metadata",
    .unary { call, _ in
      let seen = ["token", "authorization", "x-custom"].map { call.metadata[$0] ?? "-" }
      call.respond(Array(seen.joined(separator: ",").utf8))
    })
  server.register(
    "/test.Echo/Expand",
    .serverStreaming { call, request in
      let count = Int(String(decoding: request, as: UTF8.self)) ?? 0
      for index in 0..<count { call.send(Array("\(index)".utf8)) }
      call.finish()
    })
  server.register(
    "/test.Echo/Collect",
    .clientStreaming { call in
      var collected: [UInt8] = []
      call.onMessage = { collected += $0 }
      call.onHalfClose = { call.respond(collected) }
    })
  server.register(
    "/test.Echo/Chat",
    .bidiStreaming { call in
      call.onMessage = { call.send($0) }
      call.onHalfClose = { call.finish() }
    })
  server.register(
    "/test.Echo/Hang",
    .unary { call, _ in
      probe.hung.update { $0 += 1 }
      probe.deadlines.update { $0.append(call.deadlineMs) }
      call.onCancel = { probe.cancelled.update { $0 += 1 } }
    })
  server.register(
    "/test.Echo/Slow",
    .unary { call, request in
      probe.slow.update { $0 += 1 }
      call.onCancel = { probe.cancelled.update { $0 += 1 } }
      LoopTimer.after(200, on: loop) { if !call.isCancelled { call.respond(request) } }
    })
  server.register(
    "/test.Echo/Fail",
    .unary { call, request in
      call.finish(status: .invalidArgument, message: String(decoding: request, as: UTF8.self))
    })
  server.register(
    "/test.Echo/Cancelled",
    .unary { call, _ in call.respond(Array("\(probe.cancelled.value)".utf8)) })
  server.register("/test.Echo/Flood", .serverStreaming(flood(probe)))
}

/// Sends N messages of 64 KiB, pausing whenever the call is not writable.
private func flood(_ probe: GRPCProbe) -> (GRPCServerCall, [UInt8]) -> Void {
  { call, request in
    var remaining = Int(String(decoding: request, as: UTF8.self)) ?? 0
    let message = [UInt8](repeating: 0x66, count: 64 * 1024)
    func pump() {
      while remaining > 0 && call.isWritable {
        remaining -= 1
        call.send(message)
      }
      if remaining == 0 { return call.finish() }
      probe.blocked.update { $0 += 1 }
    }
    call.onWritable = { pump() }
    pump()
  }
}

/// A loop thread with a gRPC server running the test service, and clients
/// connected to it on the same loop.
final class GRPCFixture: Sendable {
  let runner: LoopThread
  let port: Int
  let server: LoopLocal<GRPCServer>
  let probe: GRPCProbe

  private init(runner: LoopThread, port: Int, server: LoopLocal<GRPCServer>, probe: GRPCProbe) {
    self.runner = runner
    self.port = port
    self.server = server
    self.probe = probe
  }

  /// With `sharingPortWithHTTP`, the port also serves HTTP/1.1 (answering
  /// "http1") through `ProtocolSniffer.route`.
  static func start(
    sharingPortWithHTTP: Bool = false,
    configure: @escaping @Sendable (inout GRPCServer.Configuration) -> Void = { _ in }
  ) throws -> GRPCFixture {
    let server = LoopLocal<GRPCServer>()
    let probe = GRPCProbe()
    let (runner, port) = try LoopThread.start { loop in
      var configuration = GRPCServer.Configuration()
      configure(&configuration)
      let grpc = GRPCServer(loop: loop, configuration: configuration)
      registerEchoService(on: grpc, loop: loop, probe: probe)
      server.value = grpc
      let address = try SocketAddress(host: "127.0.0.1", port: 0)
      guard sharingPortWithHTTP else { return try grpc.listen(on: address).localAddress.port }
      let http = HTTPServer(loop: loop) { _, responder in
        responder.respond(status: 200, body: Array("http1".utf8))
      }
      // The listener's closure keeps both servers alive while the loop runs.
      let listener = try TCPListener(loop: loop, address: address) { connection in
        ProtocolSniffer.route(connection, http: http, grpc: grpc)
      }
      return listener.localAddress.port
    }
    return GRPCFixture(runner: runner, port: port, server: server, probe: probe)
  }

  /// A client connected to the server, on the server's loop.
  func connect(
    configure: @escaping @Sendable (inout GRPCClientConnection.Configuration) -> Void = { _ in }
  ) throws -> LoopLocal<GRPCClientConnection> {
    let client = LoopLocal<GRPCClientConnection>()
    let port = port
    let failure: NetError? = try runner.wait { loop, done in
      var configuration = GRPCClientConnection.Configuration()
      configure(&configuration)
      let address = try! SocketAddress(host: "127.0.0.1", port: port)
      GRPCClientConnection.connect(
        loop: loop, to: address, configuration: configuration, timeoutMs: 2000
      ) { result in
        switch result {
        case .success(let connection):
          client.value = connection
          done(nil)
        case .failure(let error):
          done(error)
        }
      }
    }
    if let failure { throw failure }
    return client
  }

  /// One unary call from `client`, waited for.
  func unary(
    _ client: LoopLocal<GRPCClientConnection>, _ path: String, _ request: [UInt8],
    metadata: HTTPHeaders = [:], timeoutMs: UInt64? = nil
  ) throws -> Result<[UInt8], GRPCStatus> {
    try runner.wait { _, done in
      client.value!.unary(path, request: request, metadata: metadata, timeoutMs: timeoutMs) {
        done($0)
      }
    }
  }

  func stop() { runner.stop() }
}

/// What a streaming call delivered by the time it finished.
struct StreamOutcome: Sendable {
  var messages: [[UInt8]] = []
  var status = GRPCStatus.ok
}

extension LoopThread {
  /// Runs `body` on the loop thread and waits until it calls `done`,
  /// which it may do from any later callback on the loop.
  func wait<T: Sendable>(
    seconds: Int = 20,
    _ body: @escaping @Sendable (EventLoop, @escaping @Sendable (T) -> Void) -> Void
  ) throws -> T {
    let result = Locked<T?>(nil)
    let finished = DispatchSemaphore(value: 0)
    let loop = self.loop
    loop.post {
      body(loop) { value in
        result.update { $0 = value }
        finished.signal()
      }
    }
    guard finished.wait(timeout: .now() + .seconds(seconds)) == .success, let value = result.value
    else { throw TestTimeout() }
    return value
  }
}

/// Bytes that do not repeat with any short period, so a misplaced frame shows.
func patternBytes(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
  var generator = SplitMix64(state: seed)
  return (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
}
