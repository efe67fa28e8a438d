/// What one side of an HTTP/2 connection advertises and enforces.
public struct HTTP2Settings: Sendable {
  /// Receive window of each stream (SETTINGS_INITIAL_WINDOW_SIZE), in bytes.
  /// nghttp2 grants it back as the protocol above consumes the data.
  public var initialWindowSize: Int32 = 1 << 20
  /// Receive window of the whole connection, in bytes.
  public var connectionWindowSize: Int32 = 4 << 20
  /// Streams the peer may have open at once; nil advertises no limit
  /// (grpc-go's and etcd's default).
  public var maxConcurrentStreams: UInt32?
  /// Largest header block accepted (SETTINGS_MAX_HEADER_LIST_SIZE, counted
  /// as RFC 9113 does: name + value + 32 per field); a stream that sends
  /// more is reset.
  public var maxHeaderListBytes = 64 * 1024
  /// Pings the peer after this long without hearing from it; nil never pings.
  public var keepaliveIntervalMs: UInt64?
  /// Closes the connection when nothing arrives this long after such a ping.
  public var keepaliveTimeoutMs: UInt64 = 20_000
  /// Server side: how soon after its last ping a client may ping again
  /// while it has streams open; with none open, 2 hours. Nil allows any.
  /// A sooner ping is a strike, and the third strike with no HEADERS or
  /// DATA sent in between ends the connection with GOAWAY
  /// ENHANCE_YOUR_CALM "too_many_pings": grpc-go's enforcement policy,
  /// which etcd sets from --grpc-keepalive-min-time.
  public var minPeerPingIntervalMs: UInt64?

  public init() {}
}

/// What a DATA provider hands nghttp2 for one frame.
enum HTTP2BodyChunk: Equatable {
  /// This many bytes were copied; more may follow.
  case bytes(Int)
  /// Nothing to send now; the stream waits for `HTTP2Connection.resumeBody`.
  case deferred
  /// The last bytes of the body, then END_STREAM, or these trailers.
  case end(Int, trailers: HTTPHeaders?)
}

/// The protocol above an `HTTP2Connection` (gRPC), told of its streams.
/// Every method runs on the loop thread; all but `http2DidFlush` and
/// `http2DidClose` run inside an nghttp2 call, where submitting frames is
/// fine and flushing is deferred until nghttp2 returns.
protocol HTTP2StreamDelegate: AnyObject {
  /// A complete header block: request or response headers, or trailers.
  func http2(_ connection: HTTP2Connection, headers: HTTPHeaders, stream: Int32, endStream: Bool)
  /// Payload of a DATA frame, lent for the call only.
  func http2(_ connection: HTTP2Connection, data: UnsafeRawBufferPointer, stream: Int32)
  /// The peer ended its side with a DATA frame's END_STREAM.
  func http2(_ connection: HTTP2Connection, endOfStream stream: Int32)
  /// Fills `buffer` with the next bytes of the stream's body.
  func http2(
    _ connection: HTTP2Connection, readBody stream: Int32,
    into buffer: UnsafeMutableRawBufferPointer
  ) -> HTTP2BodyChunk
  /// The stream is gone: both sides ended it, or one reset it (`errorCode` ≠ 0).
  func http2(_ connection: HTTP2Connection, closedStream stream: Int32, errorCode: UInt32)
  /// The peer sent GOAWAY; streams above `lastStreamID` are closed as refused.
  func http2(_ connection: HTTP2Connection, goAway lastStreamID: Int32)
  /// Frames were handed to the transport; stream queues may have room again.
  func http2DidFlush(_ connection: HTTP2Connection)
  /// The transport closed; no stream survives. Called once, last.
  func http2DidClose(_ connection: HTTP2Connection, error: NetError?)
}
