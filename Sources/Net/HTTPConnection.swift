/// The byte stream under an HTTP connection: a `TCPConnection`, or a test double.
public protocol HTTPTransport: AnyObject {
  var queuedWriteBytes: Int { get }
  func write(_ bytes: [UInt8])
  func startReading()
  func stopReading()
  func closeAfterFlush()
  func close()
}

extension TCPConnection: HTTPTransport {}

/// One HTTP/1.1 server connection as a state machine over a transport:
/// bytes in through `receive`, responses out in request order.
///
/// Keep-alive and pipelining: requests are parsed as they arrive and each
/// gets a responder at once; at most `maxPipelinedRequests` may be open, then
/// reading stops until the first finishes. A request that does not keep the
/// connection alive (HTTP/1.0, `Connection: close`), a parse failure, or
/// shutdown ends intake; the connection closes after the last response.
///
/// Timeouts: while nothing is being answered, the connection waits on its
/// client. A request that started arriving must be complete within
/// `requestReadTimeoutMs` (else 408 and close); with no request arriving the
/// connection closes quietly after `idleTimeoutMs`. Answering, down to the
/// last queued byte, never counts, so long-polls and streams are safe. The
/// owner calls `expire(now:)` periodically; phases are stamped with the time
/// of the first call that sees them, so a deadline is never enforced early
/// and at most two periods late, and the connection needs no clock or timer.
final class HTTPConnection {
  struct Limits {
    var parser: HTTPRequestParser.Limits
    var maxPipelinedRequests: Int
    /// Bytes buffered by responders waiting for an earlier response.
    var maxBufferedResponseBytes: Int
    var requestReadTimeoutMs: UInt64
    var idleTimeoutMs: UInt64
  }

  let transport: HTTPTransport
  private let limits: Limits
  private let parser: HTTPRequestParser
  private let handler: (HTTPRequest, HTTPResponder) -> Void
  /// Open responses in request order; only the first writes to the transport.
  private var line: [HTTPResponder] = []
  private(set) var acceptsRequests = true
  private(set) var isClosed = false
  /// When the wait for a next request began, as stamped by `expire(now:)`;
  /// nil until a call sees the connection idle.
  private var waitingSince: UInt64?
  /// Like `waitingSince`, for the partial request being read.
  private var requestSince: UInt64?

  init(
    transport: HTTPTransport, limits: Limits,
    handler: @escaping (HTTPRequest, HTTPResponder) -> Void
  ) {
    self.transport = transport
    self.limits = limits
    self.handler = handler
    parser = HTTPRequestParser(limits: limits.parser)
  }

  var queuedWriteBytes: Int { transport.queuedWriteBytes }

  func isFirstInLine(_ responder: HTTPResponder) -> Bool { line.first === responder }

  /// Whether `responder`'s answer must announce and perform the close.
  func closes(after responder: HTTPResponder) -> Bool {
    !responder.request.keepAlive || (!acceptsRequests && line.last === responder)
  }

  func receive(_ bytes: UnsafeRawBufferPointer) {
    guard acceptsRequests, !isClosed else { return }
    for event in parser.feed(bytes) {
      guard acceptsRequests, !isClosed else { break }
      switch event {
      case .expectsContinue:
        // Behind other responses the interim answer would be out of order;
        // the client then sends the body after its own short wait.
        if line.isEmpty { transport.write(HTTPResponseEncoder.continueResponse) }
      case .request(let request):
        acceptsRequests = request.keepAlive
        waitingSince = nil
        requestSince = nil
        let responder = HTTPResponder(
          connection: self, method: request.method, keepAlive: request.keepAlive,
          isHTTP10: request.versionMajor == 1 && request.versionMinor == 0)
        line.append(responder)
        handler(request, responder)
      case .failure(let status):
        refuse(status: status)
      }
    }
    if line.count >= limits.maxPipelinedRequests { transport.stopReading() }
  }

  /// Ends intake with an error answer, sent after the answers already in line.
  private func refuse(status: Int) {
    acceptsRequests = false
    let responder = HTTPResponder(connection: self, method: "", keepAlive: false, isHTTP10: false)
    line.append(responder)
    // Go's server answers a request it cannot parse with the status line's
    // words as the body, without a newline; the other refusals are ours.
    let reason = HTTPStatus.reason(status)
    let body = status == 400 || status == 431 ? "\(status) \(reason)" : reason + "\n"
    responder.respond(
      status: status, headers: ["Content-Type": "text/plain; charset=utf-8"],
      body: Array(body.utf8))
  }

  /// Enforces the read and idle timeouts at loop time `now` (milliseconds,
  /// never decreasing between calls).
  func expire(now: UInt64) {
    guard acceptsRequests, !isClosed else { return }
    // An answer is open until the client has taken its last queued byte;
    // until then the wait is ours (reading may even be paused), not the client's.
    // A request arriving behind open answers is timed from when they end.
    guard line.isEmpty, transport.queuedWriteBytes == 0 else {
      waitingSince = nil
      requestSince = nil
      return
    }
    if parser.isReadingRequest {
      let started = requestSince ?? now
      requestSince = started
      if now - started >= limits.requestReadTimeoutMs { refuse(status: 408) }
    } else {
      let waiting = waitingSince ?? now
      waitingSince = waiting
      if now - waiting >= limits.idleTimeoutMs {
        acceptsRequests = false
        transport.close()
      }
    }
  }

  /// Called by a responder after it produced bytes or finished.
  func responderDidWrite(_ responder: HTTPResponder) {
    guard !isClosed else { return }
    if line.first !== responder {
      let total = line.reduce(0) { $0 + $1.buffered.count }
      if total > limits.maxBufferedResponseBytes { transport.close() }
      return
    }
    pump()
  }

  /// Hands the first responder's output to the transport, retiring finished ones.
  private func pump() {
    while let first = line.first {
      if !first.buffered.isEmpty {
        transport.write(first.buffered)
        first.buffered = []
      }
      guard first.state == .complete else { break }
      line.removeFirst()
      first.didFinish()
      if first.closesConnection {
        finish()
        return
      }
    }
    if line.isEmpty && !acceptsRequests {
      finish()
    } else if acceptsRequests && line.count < limits.maxPipelinedRequests {
      transport.startReading()
    }
  }

  /// The transport's queue drained; only the first responder is writing.
  func transportDrained() {
    line.first?.onDrain?()
  }

  /// Ends intake; a connection with nothing to answer closes now (a request
  /// still arriving is dropped, as Go's Shutdown does with idle ones), a busy
  /// one after its answers.
  func beginShutdown() {
    acceptsRequests = false
    if line.isEmpty { transport.close() }
  }

  /// The peer sent EOF. Like Go's server, this cancels what is still being
  /// answered; what was already written is still delivered.
  func peerClosed() {
    finish()
  }

  /// The transport is gone (reset, error, overflow, or our own close).
  func transportClosed() {
    guard !isClosed else { return }
    isClosed = true
    acceptsRequests = false
    let open = line
    line = []
    for responder in open { responder.connectionClosed() }
  }

  private func finish() {
    acceptsRequests = false
    let open = line
    line = []
    for responder in open { responder.connectionClosed() }
    transport.closeAfterFlush()
  }
}
