import CNghttp2

/// The gRPC side of one server connection: each HTTP/2 stream a call.
///
/// Owned by its `HTTP2Connection` (as delegate) and by the server's table,
/// both until the transport closes. Calls point back weakly.
final class GRPCServerConnection: HTTP2StreamDelegate {
  private weak var server: GRPCServer?
  let configuration: GRPCServer.Configuration
  let http2: HTTP2Connection
  private var calls: [Int32: GRPCServerCall] = [:]
  /// Calls past their write high-water mark, told when they drain to half.
  private var blockedCalls: [Int32: GRPCServerCall] = [:]

  static let responseHeaders: HTTPHeaders = [":status": "200", "content-type": "application/grpc"]

  init(server: GRPCServer, transport: TCPConnection) {
    self.server = server
    configuration = server.configuration
    http2 = HTTP2Connection(
      transport: transport, role: .server, settings: server.configuration.http2)
    http2.delegate = self
  }

  var loop: EventLoop { http2.loop }

  // MARK: Streams

  func http2(_ connection: HTTP2Connection, headers: HTTPHeaders, stream: Int32, endStream: Bool) {
    guard let call = calls[stream] else {
      // Trailers (no pseudo-headers) on a stream already answered are moot.
      guard headers[":method"] != nil else { return }
      return open(stream, headers: headers, endStream: endStream)
    }
    // gRPC clients send no trailers; any would still end their side.
    if endStream { call.peerHalfClosed() }
  }

  private func open(_ stream: Int32, headers: HTTPHeaders, endStream: Bool) {
    guard headers[":method"] == "POST", Self.isGRPC(headers["content-type"]) else {
      // grpc-go resets a stream that is not a gRPC request.
      return http2.submitReset(stream: stream, errorCode: NGHTTP2_PROTOCOL_ERROR.rawValue)
    }
    let path = headers[":path"] ?? ""
    guard let server else {
      return refuse(stream, GRPCStatus(.unavailable, "transport is closing"))
    }
    let handler: GRPCServer.Handler
    switch server.handler(for: path) {
    case .success(let found): handler = found
    case .failure(let status): return refuse(stream, status)
    }
    if let encoding = headers["grpc-encoding"], encoding != "identity" {
      let text = "grpc: Decompressor is not installed for grpc-encoding \"\(encoding)\""
      return refuse(stream, GRPCStatus(.unimplemented, text))
    }
    var timeoutMs: UInt64?
    if let timeout = headers["grpc-timeout"] {
      timeoutMs = GRPCTimeout.parse(timeout)
      guard timeoutMs != nil else {
        return refuse(
          stream, GRPCStatus(.internalError, "transport: malformed time-out: \(timeout)"))
      }
    }
    let call = GRPCServerCall(
      connection: self, stream: stream, path: path, headers: headers, timeoutMs: timeoutMs,
      handler: handler)
    calls[stream] = call
    call.begin()
    if endStream { call.peerHalfClosed() }
  }

  private static func isGRPC(_ contentType: String?) -> Bool {
    guard let contentType, contentType.hasPrefix("application/grpc") else { return false }
    let rest = contentType.dropFirst("application/grpc".count)
    return rest.isEmpty || rest.hasPrefix("+") || rest.hasPrefix(";")
  }

  /// Answers a stream that never became a call with a trailers-only status.
  private func refuse(_ stream: Int32, _ status: GRPCStatus) {
    http2.submitFinalHeaders(stream: stream, headers: Self.trailersOnly(status))
  }

  static func trailersOnly(_ status: GRPCStatus) -> HTTPHeaders {
    var headers = responseHeaders
    for field in status.fields { headers.add(field.name, field.value) }
    return headers
  }

  func http2(_ connection: HTTP2Connection, data: UnsafeRawBufferPointer, stream: Int32) {
    calls[stream]?.receive(data)
  }

  func http2(_ connection: HTTP2Connection, endOfStream stream: Int32) {
    calls[stream]?.peerHalfClosed()
  }

  func http2(
    _ connection: HTTP2Connection, readBody stream: Int32,
    into buffer: UnsafeMutableRawBufferPointer
  ) -> HTTP2BodyChunk {
    calls[stream]?.outbox.read(into: buffer) ?? .end(0, trailers: nil)
  }

  func http2(_ connection: HTTP2Connection, closedStream stream: Int32, errorCode: UInt32) {
    blockedCalls[stream] = nil
    calls.removeValue(forKey: stream)?.streamClosed()
  }

  /// A client's GOAWAY needs nothing here: nghttp2 closes the connection
  /// once the streams below it end.
  func http2(_ connection: HTTP2Connection, goAway lastStreamID: Int32) {}

  // MARK: Writing

  /// A call's queue passed its high-water mark.
  func block(_ call: GRPCServerCall) {
    blockedCalls[call.stream] = call
  }

  func http2DidFlush(_ connection: HTTP2Connection) {
    guard !blockedCalls.isEmpty else { return }
    let limit = configuration.callWriteHighWaterMark / 2
    for call in blockedCalls.values where call.queuedBytes <= limit {
      // An earlier call's onWritable may have sent and flushed again.
      guard blockedCalls.removeValue(forKey: call.stream) != nil else { continue }
      call.becameWritable()
    }
  }

  func http2DidClose(_ connection: HTTP2Connection, error: NetError?) {
    let open = calls.values
    calls = [:]
    blockedCalls = [:]
    for call in open { call.streamClosed() }
    server?.connectionDidClose(self)
  }
}
