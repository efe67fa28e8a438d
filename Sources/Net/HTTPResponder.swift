/// The answer to one request: a full response, or a stream of chunks.
///
/// Responses go out strictly in request order: a responder whose request is
/// not first in line buffers its bytes until every earlier one has finished.
/// Use exactly one of `respond` or `startStream` ... `endStream`; a second
/// answer is a programming error and traps. After the client is gone every
/// call is a no-op, `isClosed` is true, and `onClose` has fired once; a
/// long-poll waiter should hook `onClose` (after checking `isClosed`) to free
/// itself. The connection's limits apply: a stream that outruns its reader
/// is cut off, so producers should watch `queuedWriteBytes`.
public final class HTTPResponder {
  enum State: Equatable {
    case waiting
    case streaming
    case complete
  }

  let request: (method: String, keepAlive: Bool, isHTTP10: Bool)
  /// Fields the answer carries unless the handler sets them itself: what
  /// a wrapping handler (CORS, say) adds to every answer it lets through.
  public var defaultHeaders = HTTPHeaders()
  public var onClose: (() -> Void)?
  public private(set) var isClosed = false

  private(set) var state = State.waiting
  private(set) var framing = HTTPResponseEncoder.Framing.none
  /// Output not yet handed to the transport, because an earlier response is still open.
  var buffered: [UInt8] = []
  /// Set when this response ends the connection.
  private(set) var closesConnection = false
  private weak var connection: HTTPConnection?

  init(connection: HTTPConnection, method: String, keepAlive: Bool, isHTTP10: Bool) {
    self.connection = connection
    request = (method, keepAlive, isHTTP10)
  }

  /// Bytes written for this response and not yet taken by the kernel.
  public var queuedWriteBytes: Int {
    guard let connection, connection.isFirstInLine(self) else { return buffered.count }
    return buffered.count + connection.queuedWriteBytes
  }

  /// Fires when the connection's write queue, having passed its high-water
  /// mark, fell to half of it: the moment for a paused stream to go on.
  public var onDrain: (() -> Void)?

  /// Sends a complete response; Content-Length is set from `body`.
  public func respond(status: Int, headers: HTTPHeaders = [:], body: [UInt8] = []) {
    precondition(state == .waiting, "HTTPResponder answered twice")
    state = .complete
    guard !isClosed, let connection else { return }
    closesConnection = connection.closes(after: self)
    framing = HTTPStatus.forbidsBody(status) ? .none : .contentLength(body.count)
    var bytes = HTTPResponseEncoder.head(
      status: status, headers: withDefaults(headers), framing: framing, closes: closesConnection,
      http10: request.isHTTP10)
    if request.method != "HEAD" && framing != .none { bytes += body }
    emit(bytes)
  }

  /// Sends the head of a streamed response: chunked for HTTP/1.1, and for
  /// HTTP/1.0 a body delimited by closing the connection.
  public func startStream(status: Int, headers: HTTPHeaders = [:]) {
    precondition(state == .waiting, "HTTPResponder answered twice")
    state = .streaming
    guard !isClosed, let connection else { return }
    framing = request.isHTTP10 ? .untilClose : .chunked
    closesConnection = request.isHTTP10 || connection.closes(after: self)
    emit(
      HTTPResponseEncoder.head(
        status: status, headers: withDefaults(headers), framing: framing,
        closes: closesConnection, http10: request.isHTTP10))
  }

  /// Sends one chunk of a streamed response; empty writes are skipped (an
  /// empty chunk would end the body).
  public func writeChunk(_ bytes: [UInt8]) {
    precondition(state == .streaming, "writeChunk outside a stream")
    guard !isClosed, !bytes.isEmpty, request.method != "HEAD" else { return }
    emit(framing == .chunked ? HTTPResponseEncoder.chunk(bytes) : bytes)
  }

  public func endStream() {
    precondition(state == .streaming, "endStream outside a stream")
    state = .complete
    guard !isClosed else { return }
    let hasBody = framing == .chunked && request.method != "HEAD"
    emit(hasBody ? HTTPResponseEncoder.lastChunk : [])
  }

  private func withDefaults(_ headers: HTTPHeaders) -> HTTPHeaders {
    var all = headers
    for field in defaultHeaders.fields where !headers.contains(field.name) {
      all.add(field.name, field.value)
    }
    return all
  }

  private func emit(_ bytes: [UInt8]) {
    buffered += bytes
    connection?.responderDidWrite(self)
  }

  /// The connection is gone; fires `onClose` unless the response already finished.
  func connectionClosed() {
    guard !isClosed else { return }
    isClosed = true
    buffered = []
    let onClose = self.onClose
    self.onClose = nil
    onDrain = nil
    if state != .complete { onClose?() }
  }

  /// The response left through the transport; nothing more will happen.
  func didFinish() {
    onClose = nil
    onDrain = nil
  }
}
