import CNghttp2

/// One HTTP/2 connection (cleartext, prior knowledge) over a `TCPConnection`,
/// framed by nghttp2, for either side. The protocol above sees streams
/// through its `HTTP2StreamDelegate`.
///
/// # Driving nghttp2
/// nghttp2 does no I/O. Bytes read go to `nghttp2_session_mem_recv`;
/// `flush()` drains `nghttp2_session_mem_send` into one transport write.
/// nghttp2 calls back only from inside those calls, and a flush asked for
/// there is skipped: the outermost call flushes once nghttp2 has returned,
/// so `mem_send` never runs inside a callback.
///
/// # Ownership
/// The session's user_data is this object, retained while the session
/// exists. The transport's closures own this object, and this object owns
/// its delegate; when the transport's close callback reports the end, the
/// session is deleted, that retain is given back and the delegate dropped,
/// which ends every cycle through them.
///
/// # Backpressure
/// `flush()` takes frames from nghttp2 only while the transport's queue is
/// under its high-water mark, so unsent DATA waits in the streams' own
/// queues, where the protocol above can see it, and the transport never
/// nears its hard limit. Passing the mark also makes the transport stop
/// reading, and its drain flushes again. Flow-control windows are
/// nghttp2's: a stream without window is not asked for data.
final class HTTP2Connection {
  enum Role {
    case server
    case client
  }

  let transport: TCPConnection
  let role: Role
  let settings: HTTP2Settings
  /// Owned until the connection closes.
  var delegate: HTTP2StreamDelegate?
  var session: OpaquePointer?
  /// nghttp2 calls on the stack; callbacks run only while it is positive.
  var depth = 0
  var isFlushScheduled = false
  /// The header block being received: HTTP/2 never interleaves two.
  var incomingHeaders = HTTPHeaders()
  var incomingHeaderBytes = 0
  /// Loop time of the last read, for keepalive.
  var lastReadMs: UInt64 = 0
  var keepaliveTimer: LoopTimer?
  var pingDeadline: LoopTimer?
  /// Streams the peer opened that are not closed yet (server side).
  var peerStreams = 0
  /// For `settings.minPeerPingIntervalMs`: when the peer last pinged, the
  /// strikes so far, and whether a HEADERS or DATA frame went out since.
  var lastPeerPingMs: UInt64?
  var pingStrikes = 0
  var answeredSincePing = false
  /// Set once a GOAWAY that ends the connection is queued: the connection
  /// closes as soon as it is written, whatever streams are open.
  var closesOnceFlushed = false
  var isShuttingDown = false
  /// From `beginShutdown` until the final GOAWAY is queued.
  var awaitsShutdownPing = false
  private(set) var isClosed = false

  /// Set `delegate` before `start`.
  init(transport: TCPConnection, role: Role, settings: HTTP2Settings) {
    self.transport = transport
    self.role = role
    self.settings = settings
  }

  var loop: EventLoop { transport.loop }

  /// Creates the session, sends our SETTINGS at once (grpc-go waits for
  /// them), and feeds it `initialBytes` (read by a sniffer, say).
  func start(initialBytes: [UInt8]) {
    // The transport's closures own this object until its close callback.
    transport.onRead = { self.receive($0) }
    transport.onDrain = { self.flush() }
    // gRPC peers never half-close; an EOF means they are gone.
    transport.onPeerClosed = { self.transport.closeAfterFlush() }
    transport.onClose = { self.transportClosed($0) }
    guard makeSession() else { return transport.close(reason: nil) }
    transport.setNoDelay(true)
    submitSettings()
    lastReadMs = loop.nowMs
    startKeepalive()
    transport.startReading()
    if initialBytes.isEmpty {
      flush()
    } else {
      initialBytes.withUnsafeBytes { receive($0) }
    }
  }

  private func makeSession() -> Bool {
    var callbacks: OpaquePointer?
    var option: OpaquePointer?
    guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else { return false }
    defer { nghttp2_session_callbacks_del(callbacks) }
    guard nghttp2_option_new(&option) == 0, let option else { return false }
    defer { nghttp2_option_del(option) }
    HTTP2Callbacks.install(in: callbacks)
    // Closed streams are kept only for RFC 7540 priorities, which gRPC never uses.
    nghttp2_option_set_no_closed_streams(option, 1)
    // etcdctl 3.4 sends an `:authority` such as "http://127.0.0.1:2379" (its
    // endpoint URL whole) on some calls, which nghttp2's strict header checks
    // refuse with RST_STREAM. Go's server accepts it, so the server does too;
    // the gRPC layer checks the headers it relies on itself.
    if role == .server { nghttp2_option_set_no_http_messaging(option, 1) }
    let userData = Unmanaged.passRetained(self).toOpaque()
    let rc =
      role == .server
      ? nghttp2_session_server_new2(&session, callbacks, userData, option)
      : nghttp2_session_client_new2(&session, callbacks, userData, option)
    if rc != 0 {
      session = nil
      Unmanaged<HTTP2Connection>.fromOpaque(userData).release()
      return false
    }
    return true
  }

  private func submitSettings() {
    guard let session else { return }
    var entries = [
      nghttp2_settings_entry(
        settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
        value: UInt32(settings.initialWindowSize)),
      nghttp2_settings_entry(
        settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue),
        value: UInt32(settings.maxHeaderListBytes)),
    ]
    if role == .client {
      entries.append(
        nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0))
    }
    if let limit = settings.maxConcurrentStreams {
      entries.append(
        nghttp2_settings_entry(
          settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: limit))
    }
    nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), entries, entries.count)
    nghttp2_session_set_local_window_size(
      session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, settings.connectionWindowSize)
  }

  private func receive(_ bytes: UnsafeRawBufferPointer) {
    guard let session, !isClosed else { return }
    heardFromPeer()
    depth += 1
    let rc = nghttp2_session_mem_recv(
      session, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
    depth -= 1
    // Malformed input: send the GOAWAY nghttp2 may have queued, then go.
    // Only this connection ends; nghttp2 has already stopped reading it.
    if rc < 0 {
      flush()
      transport.closeAfterFlush()
      return
    }
    flush()
  }

  /// Hands nghttp2's pending frames to the transport in one write, up to
  /// the transport's high-water mark. Skipped inside nghttp2 callbacks
  /// (the outermost call flushes on return). Closes the connection once
  /// nghttp2 wants neither to read nor to write: after a GOAWAY, with no
  /// stream left.
  /// `flush()` at the end of this loop iteration; once however often asked.
  func scheduleFlush() {
    guard !isFlushScheduled, !isClosed else { return }
    isFlushScheduled = true
    loop.atIterationEnd { [weak self] in
      guard let self else { return }
      isFlushScheduled = false
      flush()
    }
  }

  func flush() {
    guard depth == 0, let session, !isClosed, !transport.isClosing else { return }
    var batch: [UInt8] = []
    var failed = false
    let limit = transport.limits.highWaterMark
    depth += 1
    // Stops once the queue passes the mark, so the transport pauses and
    // its drain calls us again.
    while transport.queuedWriteBytes + batch.count <= limit {
      var chunk: UnsafePointer<UInt8>?
      let count = nghttp2_session_mem_send(session, &chunk)
      if count < 0 { failed = true }
      guard count > 0, let chunk else { break }
      // The chunk is nghttp2's and valid only until the next call: copy now.
      batch.append(contentsOf: UnsafeBufferPointer(start: chunk, count: count))
    }
    depth -= 1
    transport.write(batch)
    if failed || (closesOnceFlushed && nghttp2_session_want_write(session) == 0)
      || (nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0)
    {
      transport.closeAfterFlush()
      return
    }
    delegate?.http2DidFlush(self)
  }

  /// Ends at once: unsent frames are dropped and every stream is closed.
  func close() {
    transport.close(reason: nil)
  }

  /// Client side: GOAWAY, then close once it is out.
  func terminate() {
    guard let session, !isClosed else { return }
    nghttp2_session_terminate_session(session, NGHTTP2_NO_ERROR.rawValue)
    flush()
  }

  private func transportClosed(_ error: NetError?) {
    guard !isClosed else { return }
    isClosed = true
    keepaliveTimer?.cancel()
    pingDeadline?.cancel()
    if let session {
      // No callback runs inside nghttp2_session_del.
      nghttp2_session_del(session)
      self.session = nil
      Unmanaged.passUnretained(self).release()
    }
    let delegate = self.delegate
    self.delegate = nil
    delegate?.http2DidClose(self, error: error)
  }
}
