import CLibUV

/// Net: the event loop, TCP, the HTTP/1.1 server, and HTTP/2 with gRPC
/// (server and client, on nghttp2) that swetcd's protocols run on.
///
/// # gRPC
/// `GRPCServer` routes each call by its full method path to a handler
/// working on raw message bytes; `GRPCClientConnection` makes calls. Both
/// sit on `HTTP2Connection`, which feeds nghttp2 from a `TCPConnection`
/// and flushes its frames outside nghttp2's callbacks. One port serves
/// HTTP/1.1 and gRPC through `ProtocolSniffer.route`.
///
/// # Threads
/// One `EventLoop` runs on the thread that calls `run()`. Every type here is
/// loop-thread-only unless its documentation says otherwise; the exceptions
/// are `EventLoop.post(_:)`, `EventLoop.stop()`, `AsyncWakeup.post(_:)` and
/// `BlockingWorker.submit` (whose completion runs on the loop). Nothing on the
/// loop thread takes a lock except the wakeup queues.
///
/// # Ownership
/// Each object owning a libuv handle is retained by libuv while the handle is
/// open (through `handle->data`) and released in the `uv_close` callback, so
/// callers may drop their references at any time; `close()`/`cancel()` is what
/// ends the object's life. `EventLoop.close()` closes whatever is still open.
/// Bytes handed to read callbacks are lent for the duration of the call only.
///
/// # Caveats
/// Net knows nothing of etcd: limits, status codes and shutdown deadlines are
/// the caller's to choose, and messages are bytes it never decodes. Host
/// names are not resolved; addresses are numeric. HTTP/2 is cleartext with
/// prior knowledge only (no TLS, no HTTP/1.1 Upgrade).
public enum NetError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A libuv call failed with this (negative) error code.
  case uv(Int32)
  /// A host string is not a numeric IPv4 or IPv6 address.
  case invalidAddress(String)
  /// An outgoing connection did not complete within its deadline.
  case timedOut
  /// The peer fell behind: the write queue passed its hard limit.
  case writeQueueOverflow

  /// libuv's name for a `.uv` code, for logs.
  public var description: String {
    switch self {
    case .uv(let code): return String(cString: uv_err_name(code))
    case .invalidAddress(let host): return "invalid address \(host)"
    case .timedOut: return "timed out"
    case .writeQueueOverflow: return "write queue overflow"
    }
  }

  /// The system's sentence for a `.uv` code ("address already in use"),
  /// for messages shaped like Go's; `description` for the others.
  public var message: String {
    guard case .uv(let code) = self else { return description }
    return String(cString: uv_strerror(code))
  }
}

/// Throws `.uv(code)` when a libuv call returned an error.
func uvCheck(_ code: Int32) throws(NetError) {
  if code < 0 { throw .uv(code) }
}
