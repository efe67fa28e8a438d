import CLibUV
import CNghttp2

/// One outgoing gRPC call: request messages out, response messages and a
/// status in.
///
/// `onFinish` runs exactly once, with the server's status or the one that
/// ended the call here (deadline, `cancel()`, a refused message, a lost
/// connection); after it, sends are ignored and no message arrives. Both
/// closures are released then, so they may capture the call.
public final class GRPCClientCall {
  public let path: String
  /// How the call ended; nil while it runs.
  public private(set) var status: GRPCStatus?
  /// The HTTP/2 stream; 0 when the call never started.
  var stream: Int32 = 0
  var outbox = GRPCOutbox()
  private weak var connection: GRPCClientConnection?
  private var decoder: GRPCMessageDecoder
  private var onMessage: (([UInt8]) -> Void)?
  private var onFinish: ((GRPCStatus) -> Void)?
  private var sawResponseHeaders = false
  private var deadlineTimer: LoopTimer?

  init(
    connection: GRPCClientConnection, path: String, maxMessageBytes: Int,
    onMessage: @escaping ([UInt8]) -> Void, onFinish: @escaping (GRPCStatus) -> Void
  ) {
    self.connection = connection
    self.path = path
    decoder = GRPCMessageDecoder(maxMessageBytes: maxMessageBytes)
    self.onMessage = onMessage
    self.onFinish = onFinish
  }

  /// Bytes of request messages queued and not yet taken by HTTP/2.
  public var queuedBytes: Int { outbox.count }

  /// Queues a request message. Sending after `closeSend` traps.
  public func send(_ message: [UInt8]) {
    precondition(!outbox.isClosed, "GRPCClientCall.send after closeSend on \(path)")
    guard status == nil else { return }
    outbox.append(message: message)
    connection?.resumeBody(of: self)
  }

  /// Ends the requests (half-close). Idempotent.
  public func closeSend() {
    guard !outbox.isClosed else { return }
    outbox.close(trailers: nil)
    guard status == nil else { return }
    connection?.resumeBody(of: self)
  }

  /// Abandons the call: the server gets RST_STREAM CANCEL, `onFinish`
  /// gets CANCELLED.
  public func cancel() {
    end(GRPCStatus(.cancelled, "context canceled"))
  }

  func startDeadline(_ timeoutMs: UInt64) {
    guard let connection else { return }
    // As on the server: the cached loop clock would make the deadline early.
    uv_update_time(connection.loop.uvLoop)
    deadlineTimer = LoopTimer.after(timeoutMs, on: connection.loop) { [weak self] in
      self?.end(GRPCStatus(.deadlineExceeded, "context deadline exceeded"))
    }
  }

  /// Ends the call from this side, then resets the stream (whose close
  /// would otherwise report the reset as the status).
  private func end(_ status: GRPCStatus) {
    guard self.status == nil else { return }
    finish(status)
    connection?.reset(self, errorCode: NGHTTP2_CANCEL.rawValue)
  }

  func receivedHeaders(_ headers: HTTPHeaders, endStream: Bool) {
    guard status == nil else { return }
    guard !sawResponseHeaders else { return trailersArrived(headers) }
    sawResponseHeaders = true
    guard let httpStatus = headers[":status"], httpStatus == "200" else {
      return end(GRPCStatus(httpStatus: headers[":status"] ?? ""))
    }
    let contentType = headers["content-type"] ?? ""
    guard contentType.hasPrefix("application/grpc") else {
      let text = "transport: received the unexpected content-type \"\(contentType)\""
      return end(GRPCStatus(.internalError, text))
    }
    if endStream { trailersArrived(headers) }
  }

  /// The server's status ended the call; a request side still open is
  /// reset with NO_ERROR, as grpc-go does, so the server stops listening.
  private func trailersArrived(_ trailers: HTTPHeaders) {
    finish(GRPCStatus(trailers: trailers))
    if !outbox.isEnded { connection?.reset(self, errorCode: NGHTTP2_NO_ERROR.rawValue) }
  }

  func receive(_ bytes: UnsafeRawBufferPointer) {
    guard status == nil else { return }
    do {
      for message in try decoder.feed(bytes) where status == nil { onMessage?(message) }
    } catch {
      end(
        error.status(limit: decoder.maxMessageBytes) {
          "grpc: received message larger than max (\($0) vs. \($1))"
        })
    }
  }

  /// Delivers the status once and lets go of the closures.
  func finish(_ status: GRPCStatus) {
    guard self.status == nil else { return }
    self.status = status
    deadlineTimer?.cancel()
    deadlineTimer = nil
    let onFinish = self.onFinish
    self.onFinish = nil
    onMessage = nil
    onFinish?(status)
  }
}
