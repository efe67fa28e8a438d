import CNghttp2

/// A gRPC client connection: cleartext HTTP/2 with prior knowledge, any
/// number of concurrent calls multiplexed on one TCP connection (nghttp2
/// queues streams beyond the server's MAX_CONCURRENT_STREAMS).
///
/// Calls carry raw message bytes; every callback runs on the loop thread.
/// A call that cannot start (the connection is closed or the server sent
/// GOAWAY) finishes with UNAVAILABLE on a later loop turn, so `onFinish`
/// never runs before the call is returned. The connection lives until
/// `close()`, the server, or `EventLoop.close()` ends it.
public final class GRPCClientConnection: HTTP2StreamDelegate {
  public struct Configuration: Sendable {
    /// Largest response message accepted (grpc-go's default: 4 MiB).
    public var maxReceiveMessageBytes = 4 << 20
    public var http2 = HTTP2Settings()
    public var writeLimits = TCPConnection.Limits()

    public init() {}
  }

  public let loop: EventLoop
  public let configuration: Configuration
  let http2: HTTP2Connection
  private let authority: String
  private var calls: [Int32: GRPCClientCall] = [:]
  /// False once the server sent GOAWAY or the connection closed.
  public private(set) var isAvailable = true
  /// The server sent GOAWAY: calls already running may finish, new ones fail.
  public var onGoAway: (() -> Void)?
  /// The connection closed; every call has finished.
  public var onClose: ((NetError?) -> Void)?

  /// Connects to `address`; `completion` runs once on the loop thread.
  public static func connect(
    loop: EventLoop, to address: SocketAddress, configuration: Configuration = Configuration(),
    timeoutMs: UInt64, completion: @escaping (Result<GRPCClientConnection, NetError>) -> Void
  ) {
    TCPConnector.connect(loop: loop, to: address, timeoutMs: timeoutMs) { result in
      completion(
        result.map { transport in
          transport.limits = configuration.writeLimits
          let client = GRPCClientConnection(
            transport: transport, authority: address.description, configuration: configuration)
          client.http2.start(initialBytes: [])
          return client
        })
    }
  }

  private init(transport: TCPConnection, authority: String, configuration: Configuration) {
    loop = transport.loop
    self.configuration = configuration
    self.authority = authority
    http2 = HTTP2Connection(transport: transport, role: .client, settings: configuration.http2)
    http2.delegate = self
  }

  /// Calls started and not yet finished.
  public var activeCallCount: Int { calls.count }

  /// Starts a call of any kind; send requests with `send` and end them
  /// with `closeSend`. `timeoutMs` is sent as grpc-timeout and enforced
  /// here too.
  public func makeCall(
    _ path: String, metadata: HTTPHeaders = [:], timeoutMs: UInt64? = nil,
    onMessage: @escaping ([UInt8]) -> Void, onFinish: @escaping (GRPCStatus) -> Void
  ) -> GRPCClientCall {
    start(path, metadata, timeoutMs, request: nil, onMessage: onMessage, onFinish: onFinish)
  }

  /// Starts a call with its one request message already sent.
  @discardableResult
  public func serverStreaming(
    _ path: String, request: [UInt8], metadata: HTTPHeaders = [:], timeoutMs: UInt64? = nil,
    onMessage: @escaping ([UInt8]) -> Void, onFinish: @escaping (GRPCStatus) -> Void
  ) -> GRPCClientCall {
    start(path, metadata, timeoutMs, request: request, onMessage: onMessage, onFinish: onFinish)
  }

  /// One request, one response; `completion` gets the response message or
  /// the status of a call that did not end OK with exactly one.
  @discardableResult
  public func unary(
    _ path: String, request: [UInt8], metadata: HTTPHeaders = [:], timeoutMs: UInt64? = nil,
    completion: @escaping (Result<[UInt8], GRPCStatus>) -> Void
  ) -> GRPCClientCall {
    var response: [UInt8]?
    return start(
      path, metadata, timeoutMs, request: request, onMessage: { response = $0 },
      onFinish: { status in
        guard status.code == .ok else { return completion(.failure(status)) }
        guard let response else {
          return completion(.failure(GRPCStatus(.internalError, "no response message")))
        }
        completion(.success(response))
      })
  }

  private func start(
    _ path: String, _ metadata: HTTPHeaders, _ timeoutMs: UInt64?, request: [UInt8]?,
    onMessage: @escaping ([UInt8]) -> Void, onFinish: @escaping (GRPCStatus) -> Void
  ) -> GRPCClientCall {
    let call = GRPCClientCall(
      connection: self, path: path, maxMessageBytes: configuration.maxReceiveMessageBytes,
      onMessage: onMessage, onFinish: onFinish)
    if let request {
      call.outbox.append(message: request)
      call.outbox.close(trailers: nil)
    }
    let headers = requestHeaders(path, metadata, timeoutMs)
    guard isAvailable, let stream = http2.submitRequest(headers: headers) else {
      // Closed, going away, or out of stream IDs: this connection is done.
      isAvailable = false
      LoopTimer.after(0, on: loop) { call.finish(GRPCStatus(.unavailable, "transport is closing")) }
      return call
    }
    call.stream = stream
    calls[stream] = call
    if let timeoutMs { call.startDeadline(timeoutMs) }
    http2.flush()
    return call
  }

  private func requestHeaders(_ path: String, _ metadata: HTTPHeaders, _ timeoutMs: UInt64?)
    -> HTTPHeaders
  {
    var headers: HTTPHeaders = [
      ":method": "POST", ":scheme": "http", ":path": path, ":authority": authority,
      "content-type": "application/grpc", "te": "trailers",
    ]
    if let timeoutMs { headers.add("grpc-timeout", GRPCTimeout.encode(milliseconds: timeoutMs)) }
    // HTTP/2 field names are lowercase (RFC 9113 §8.2.1).
    for field in metadata.fields { headers.add(field.name.lowercased(), field.value) }
    return headers
  }

  /// Sends GOAWAY and closes; running calls finish CANCELLED.
  public func close() {
    isAvailable = false
    let open = calls.values
    calls = [:]
    for call in open {
      call.finish(GRPCStatus(.cancelled, "grpc: the client connection is closing"))
    }
    http2.terminate()
  }

  // MARK: HTTP/2 events

  func http2(_ connection: HTTP2Connection, headers: HTTPHeaders, stream: Int32, endStream: Bool) {
    calls[stream]?.receivedHeaders(headers, endStream: endStream)
  }

  func http2(_ connection: HTTP2Connection, data: UnsafeRawBufferPointer, stream: Int32) {
    calls[stream]?.receive(data)
  }

  func http2(_ connection: HTTP2Connection, endOfStream stream: Int32) {
    calls[stream]?.finish(
      GRPCStatus(.internalError, "server closed the stream without sending trailers"))
  }

  func http2(
    _ connection: HTTP2Connection, readBody stream: Int32,
    into buffer: UnsafeMutableRawBufferPointer
  ) -> HTTP2BodyChunk {
    calls[stream]?.outbox.read(into: buffer) ?? .end(0, trailers: nil)
  }

  func http2(_ connection: HTTP2Connection, closedStream stream: Int32, errorCode: UInt32) {
    calls.removeValue(forKey: stream)?.finish(GRPCStatus(resetCode: errorCode))
  }

  func http2(_ connection: HTTP2Connection, goAway lastStreamID: Int32) {
    guard isAvailable else { return }
    isAvailable = false
    onGoAway?()
  }

  func http2DidFlush(_ connection: HTTP2Connection) {}

  func http2DidClose(_ connection: HTTP2Connection, error: NetError?) {
    isAvailable = false
    let open = calls.values
    calls = [:]
    for call in open { call.finish(GRPCStatus(.unavailable, "transport is closing")) }
    let onClose = self.onClose
    self.onClose = nil
    onGoAway = nil
    onClose?(error)
  }

  func reset(_ call: GRPCClientCall, errorCode: UInt32) {
    guard call.stream > 0, calls[call.stream] === call else { return }
    http2.submitReset(stream: call.stream, errorCode: errorCode)
  }

  func resumeBody(of call: GRPCClientCall) {
    guard call.stream > 0, calls[call.stream] === call else { return }
    http2.resumeBody(stream: call.stream)
  }
}
