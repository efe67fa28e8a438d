import CLibUV

/// One incoming gRPC call: metadata and request messages in, response
/// messages and a status out.
///
/// Answer with `send` (at most once for unary and client-streaming
/// methods) and then exactly one `finish`; sending after finishing, or
/// finishing twice, is a programming error and traps. A call that ends
/// any other way (the client resets it or goes away, its deadline passes,
/// a request message is refused, shutdown runs out of time) turns
/// `isCancelled`, fires `onCancel` once, and ignores later sends and
/// finishes. Every closure is released when the call ends, so closures
/// may capture the call.
///
/// Backpressure: messages wait in the call's own queue until HTTP/2 flow
/// control and the connection take them. A producer of long streams
/// checks `isWritable` and, when it is false, waits for `onWritable`.
public final class GRPCServerCall {
  /// The full method path, "/etcdserverpb.KV/Range".
  public let path: String
  /// Request headers without pseudo-headers: `authorization`, `token`,
  /// `grpc-timeout`, `user-agent`, custom metadata.
  public let metadata: HTTPHeaders
  /// When the client's grpc-timeout runs out, on the loop clock
  /// (`EventLoop.nowMs`); nil without one.
  public let deadlineMs: UInt64?
  /// Each request message of a client-streaming or bidi call.
  public var onMessage: (([UInt8]) -> Void)?
  /// The client sent its last message.
  public var onHalfClose: (() -> Void)?
  public var onCancel: (() -> Void)?
  /// The queue drained to half the high-water mark after passing it.
  public var onWritable: (() -> Void)?
  /// Set by a handler that answers a call outliving its deadline with its
  /// own status (etcd's proposals say why they timed out); it must finish
  /// the call. Unset, the deadline ends the call with DeadlineExceeded.
  public var onDeadline: (() -> Void)?
  public private(set) var isCancelled = false
  public private(set) var isFinished = false

  private enum Requests {
    /// A unary or server-streaming call waits for its one request message.
    case awaitingOne((GRPCServerCall, [UInt8]) -> Void)
    case received
    case streaming
  }

  let stream: Int32
  private weak var connection: GRPCServerConnection?
  private var requests: Requests
  private let opening: ((GRPCServerCall) -> Void)?
  private let answersOnce: Bool
  private var decoder: GRPCMessageDecoder
  private let oversizedText: @Sendable (Int, Int) -> String
  var outbox = GRPCOutbox()
  private var sentMessages = 0
  private var statusSent = false
  private var isClosed = false
  private var isBlocked = false
  private var deadlineTimer: LoopTimer?

  init(
    connection: GRPCServerConnection, stream: Int32, path: String, headers: HTTPHeaders,
    timeoutMs: UInt64?, handler: GRPCServer.Handler
  ) {
    self.connection = connection
    self.stream = stream
    self.path = path
    var metadata = HTTPHeaders()
    for field in headers.fields where !field.name.hasPrefix(":") {
      metadata.add(field.name, field.value)
    }
    self.metadata = metadata
    if timeoutMs != nil {
      // The loop's clock dates from the start of this iteration, which may
      // be long ago under load; a deadline must not come early.
      uv_update_time(connection.loop.uvLoop)
    }
    deadlineMs = timeoutMs.map { connection.loop.nowMs + $0 }
    decoder = GRPCMessageDecoder(maxMessageBytes: connection.configuration.maxReceiveMessageBytes)
    oversizedText = connection.configuration.oversizedMessageText
    switch handler {
    case .unary(let handler):
      (requests, opening, answersOnce) = (.awaitingOne(handler), nil, true)
    case .serverStreaming(let handler):
      (requests, opening, answersOnce) = (.awaitingOne(handler), nil, false)
    case .clientStreaming(let handler):
      (requests, opening, answersOnce) = (.streaming, handler, true)
    case .bidiStreaming(let handler):
      (requests, opening, answersOnce) = (.streaming, handler, false)
    }
    if let timeoutMs {
      deadlineTimer = LoopTimer.after(timeoutMs, on: connection.loop) { [weak self] in
        self?.deadlinePassed()
      }
    }
  }

  /// Bytes of response messages queued and not yet taken by HTTP/2.
  public var queuedBytes: Int { outbox.count }

  /// False while `queuedBytes` is at or over the high-water mark.
  public var isWritable: Bool {
    outbox.count < (connection?.configuration.callWriteHighWaterMark ?? .max)
  }

  /// Queues a response message; the response headers go first.
  public func send(_ message: [UInt8]) {
    precondition(!isFinished, "GRPCServerCall.send after finish on \(path)")
    precondition(!answersOnce || sentMessages == 0, "a second response message on \(path)")
    sentMessages += 1
    guard !isCancelled, let connection else { return }
    outbox.append(message: message)
    if sentMessages == 1 {
      connection.http2.submitResponse(stream: stream, headers: GRPCServerConnection.responseHeaders)
    } else {
      connection.http2.resumeBody(stream: stream)
    }
    if !isBlocked && !isWritable {
      isBlocked = true
      connection.block(self)
    }
  }

  /// Ends the call with `status` after the queued messages. With nothing
  /// sent, the status goes alone (a trailers-only response).
  public func finish(status: GRPCStatusCode = .ok, message: String = "") {
    precondition(!isFinished, "GRPCServerCall finished twice on \(path)")
    isFinished = true
    deadlineTimer?.cancel()
    onDeadline = nil
    guard !isCancelled else { return }
    writeStatus(GRPCStatus(status, message))
  }

  /// Sends the one response message and finishes with OK.
  public func respond(_ message: [UInt8]) {
    send(message)
    finish()
  }

  private func writeStatus(_ status: GRPCStatus) {
    guard !statusSent, let connection else { return }
    statusSent = true
    guard sentMessages > 0 else {
      let headers = GRPCServerConnection.trailersOnly(status)
      return connection.http2.submitFinalHeaders(stream: stream, headers: headers)
    }
    var trailers = HTTPHeaders()
    for field in status.fields { trailers.add(field.name, field.value) }
    outbox.close(trailers: trailers)
    connection.http2.resumeBody(stream: stream)
  }

  // MARK: Events from the connection

  func begin() {
    opening?(self)
  }

  func receive(_ bytes: UnsafeRawBufferPointer) {
    guard !isCancelled, !isFinished else { return }
    let messages: [[UInt8]]
    do {
      messages = try decoder.feed(bytes)
    } catch {
      return terminate(error.status(limit: decoder.maxMessageBytes, oversizedText: oversizedText))
    }
    for message in messages where !isCancelled && !isFinished {
      switch requests {
      case .awaitingOne(let handler):
        requests = .received
        handler(self, message)
      case .received:
        // grpc-go reads one request of a unary call and ignores the rest.
        break
      case .streaming:
        onMessage?(message)
      }
    }
  }

  func peerHalfClosed() {
    guard !isCancelled, !isFinished else { return }
    // grpc-go ends a unary or server-streaming call that got no request
    // with the bare io.EOF, which converts to Unknown.
    if case .awaitingOne = requests {
      let status =
        decoder.isMidMessage
        ? GRPCStatus(.internalError, "unexpected EOF") : GRPCStatus(.unknown, "EOF")
      return terminate(status)
    }
    if decoder.isMidMessage { return terminate(GRPCStatus(.internalError, "unexpected EOF")) }
    onHalfClose?()
  }

  /// Ends the call without its handler (the server gives up on it): the
  /// status goes out, then the handler hears `onCancel`.
  public func terminate(_ status: GRPCStatus) {
    guard !isCancelled, !isFinished else { return }
    writeStatus(status)
    cancel()
  }

  private func deadlinePassed() {
    if let onDeadline {
      self.onDeadline = nil
      onDeadline()
    }
    terminate(GRPCStatus(.deadlineExceeded, "context deadline exceeded"))
  }

  func becameWritable() {
    isBlocked = false
    // A finished call has nothing more to write.
    guard !isFinished else { return }
    onWritable?()
  }

  /// The stream is gone; a call its handler had not finished is cancelled.
  func streamClosed() {
    guard !isClosed else { return }
    isClosed = true
    if !isFinished && !isCancelled { return cancel() }
    deadlineTimer?.cancel()
    releaseClosures()
  }

  private func cancel() {
    isCancelled = true
    deadlineTimer?.cancel()
    let onCancel = self.onCancel
    releaseClosures()
    onCancel?()
  }

  private func releaseClosures() {
    onMessage = nil
    onHalfClose = nil
    onCancel = nil
    onWritable = nil
    onDeadline = nil
    requests = .received
  }
}
