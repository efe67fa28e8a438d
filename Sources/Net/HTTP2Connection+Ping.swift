import CNghttp2

/// PINGs for two purposes: keepalive (is the peer still there?) and
/// graceful shutdown (one round trip between the GOAWAY notice and the
/// final GOAWAY). nghttp2 answers the peer's pings by itself.
extension HTTP2Connection {
  func startKeepalive() {
    guard let interval = settings.keepaliveIntervalMs else { return }
    keepaliveTimer = LoopTimer.every(interval, on: loop) { [weak self] in self?.keepaliveTick() }
  }

  /// Any byte from the peer shows it is alive, so it answers a pending ping.
  func heardFromPeer() {
    lastReadMs = loop.nowMs
    pingDeadline?.cancel()
    pingDeadline = nil
  }

  private func keepaliveTick() {
    guard let interval = settings.keepaliveIntervalMs, let session, pingDeadline == nil,
      loop.nowMs - lastReadMs >= interval
    else { return }
    nghttp2_submit_ping(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil)
    pingDeadline = LoopTimer.after(settings.keepaliveTimeoutMs, on: loop) { [weak self] in
      self?.transport.close(reason: .timedOut)
    }
    flush()
  }

  /// A ping from the peer (nghttp2 has queued the answer). A peer that
  /// is sent something answered its own question, so its count starts
  /// again; otherwise pings too close together count as strikes.
  func peerPinged() {
    guard role == .server, let minimum = settings.minPeerPingIntervalMs, let session else {
      return
    }
    let now = loop.nowMs
    defer { lastPeerPingMs = now }
    if answeredSincePing {
      answeredSincePing = false
      pingStrikes = 0
      return
    }
    let allowed = peerStreams > 0 ? minimum : Self.idlePingIntervalMs
    if let last = lastPeerPingMs, now - last < allowed { pingStrikes += 1 }
    guard pingStrikes > Self.allowedPingStrikes, !closesOnceFlushed else { return }
    let reason = Array("too_many_pings".utf8)
    nghttp2_submit_goaway(
      session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
      NGHTTP2_ENHANCE_YOUR_CALM.rawValue, reason, reason.count)
    closesOnceFlushed = true
  }

  /// grpc-go's: an idle client has no reason to ping more often, and two
  /// early pings are forgiven.
  static let idlePingIntervalMs: UInt64 = 2 * 60 * 60 * 1000
  static let allowedPingStrikes = 2

  /// Server side: tells the client to open no more streams (GOAWAY with
  /// the highest stream ID), and after one ping round trip (streams the
  /// client opened meanwhile are then here) sends the final GOAWAY naming
  /// the last stream served. The connection closes itself once those
  /// streams end; `close()` cuts them short.
  func beginShutdown() {
    guard role == .server, let session, !isClosed, !isShuttingDown else { return }
    isShuttingDown = true
    awaitsShutdownPing = true
    nghttp2_submit_shutdown_notice(session)
    nghttp2_submit_ping(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil)
    flush()
  }

  /// Inside an nghttp2 callback: the receive path flushes afterwards.
  func pingAcknowledged() {
    guard awaitsShutdownPing, let session else { return }
    awaitsShutdownPing = false
    nghttp2_submit_goaway(
      session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
      NGHTTP2_NO_ERROR.rawValue, nil, 0)
  }
}
