import CLibUV

/// One TCP stream: reads delivered to closures, writes queued with bounds.
///
/// # Reading
/// Nothing is read until `startReading()`. Each read lends `onRead` a view of
/// the loop's shared read buffer, valid only during the call: copy what
/// you keep. EOF from the peer calls `onPeerClosed` (default: close).
///
/// # Writing and backpressure
/// `write` copies into a pending queue; one `uv_write` is in flight at a time
/// and carries everything queued since the previous one. `queuedWriteBytes`
/// counts both. Above `limits.highWaterMark` reading pauses (a peer that
/// does not read our answers gets no more work done for it); at or below
/// half of it reading resumes and `onDrain` fires; above `limits.hardLimit`
/// the connection closes with `.writeQueueOverflow`. Producers of long
/// streams should check `queuedWriteBytes` and wait for `onDrain`.
///
/// # Closing
/// `close()` drops unsent bytes; `closeAfterFlush()` sends them, half-closes,
/// and discards input until the peer's EOF or a linger deadline, so a peer
/// still sending does not get a reset that destroys our last answer.
/// `onClose` runs once, in the close callback, with the reason (nil for an
/// orderly close); all closures are released after it.
public final class TCPConnection: LoopHandle {
  public struct Limits: Sendable {
    public var highWaterMark: Int
    public var hardLimit: Int
    /// How long `closeAfterFlush` waits for the peer's EOF after our FIN.
    public var lingerMs: UInt64

    public init(highWaterMark: Int = 1 << 20, hardLimit: Int = 64 << 20, lingerMs: UInt64 = 2000) {
      precondition(highWaterMark > 0 && hardLimit >= highWaterMark, "bad write limits")
      self.highWaterMark = highWaterMark
      self.hardLimit = hardLimit
      self.lingerMs = lingerMs
    }
  }

  public var limits = Limits()
  public var onRead: ((UnsafeRawBufferPointer) -> Void)?
  public var onPeerClosed: (() -> Void)?
  public var onClose: ((NetError?) -> Void)?
  public var onDrain: (() -> Void)?

  let writeRequest: UnsafeMutableRawPointer
  let shutdownRequest: UnsafeMutableRawPointer

  /// What the owner asked for; actual reading also needs `!isPausedByBackpressure`.
  var wantsReading = false
  var isPausedByBackpressure = false
  private var isReadStarted = false
  var sawPeerEOF = false
  var closeReason: NetError?

  /// Bytes accepted by `write` and not yet handed to libuv.
  var pending: [UInt8] = []
  /// The bytes of the one `uv_write` in flight; freed by its callback.
  var inFlight: UnsafeMutableRawBufferPointer?
  var isFinishing = false
  var lingerTimer: LoopTimer?

  init(loop: EventLoop) throws(NetError) {
    writeRequest = .allocate(byteCount: uv_req_size(UV_WRITE), alignment: 16)
    shutdownRequest = .allocate(byteCount: uv_req_size(UV_SHUTDOWN), alignment: 16)
    super.init(loop: loop, type: UV_TCP)
    try uvCheck(uv_tcp_init(loop.uvLoop, tcp))
    adoptHandle()
  }

  deinit {
    writeRequest.deallocate()
    shutdownRequest.deallocate()
  }

  var tcp: UnsafeMutablePointer<uv_tcp_t> { rawHandle.assumingMemoryBound(to: uv_tcp_t.self) }
  var stream: UnsafeMutablePointer<uv_stream_t> {
    rawHandle.assumingMemoryBound(to: uv_stream_t.self)
  }

  /// The peer's address, nil once closed or if the kernel will not say.
  public var remoteAddress: SocketAddress? {
    guard !isClosing else { return nil }
    var storage = sockaddr_storage()
    var length = Int32(MemoryLayout<sockaddr_storage>.size)
    let rc = withUnsafeMutablePointer(to: &storage) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_getpeername(tcp, $0, &length) }
    }
    return rc == 0 ? SocketAddress(storage) : nil
  }

  /// Disables Nagle: request/response protocols want each answer sent at once.
  public func setNoDelay(_ enabled: Bool) {
    guard !isClosing else { return }
    uv_tcp_nodelay(tcp, enabled ? 1 : 0)
  }

  public func startReading() {
    wantsReading = true
    updateReading()
  }

  /// Ignored while `closeAfterFlush` waits for the peer's EOF.
  public func stopReading() {
    guard !isFinishing else { return }
    wantsReading = false
    updateReading()
  }

  /// Closes at once, dropping unsent bytes; `onClose` gets `reason`.
  public func close(reason: NetError?) {
    guard !isClosing else { return }
    closeReason = reason
    close()
  }

  func updateReading() {
    let shouldRead = wantsReading && !isPausedByBackpressure && !sawPeerEOF && !isClosing
    guard shouldRead != isReadStarted else { return }
    isReadStarted = shouldRead
    if shouldRead {
      let rc = uv_read_start(
        stream,
        { handle, _, buffer in
          guard let connection = LoopHandle.owner(of: handle) else { return }
          let shared = connection.loop.readBuffer
          buffer?.pointee = uv_buf_init(
            shared.baseAddress!.assumingMemoryBound(to: CChar.self), UInt32(shared.count))
        },
        { stream, count, _ in
          (LoopHandle.owner(of: stream) as? TCPConnection)?.didRead(count)
        })
      if rc < 0 { close(reason: .uv(rc)) }
    } else if !isClosing {
      uv_read_stop(stream)
    }
  }

  private func didRead(_ count: Int) {
    if count > 0 {
      guard !isFinishing else { return }
      onRead?(UnsafeRawBufferPointer(rebasing: loop.readBuffer[..<count]))
    } else if count == Int(UV_EOF.rawValue) {
      sawPeerEOF = true
      updateReading()
      if isFinishing {
        if inFlight == nil && pending.isEmpty { close() }
      } else if let onPeerClosed {
        onPeerClosed()
      } else {
        close()
      }
    } else if count < 0 {
      close(reason: .uv(Int32(count)))
    }
  }

  override func willClose() {
    lingerTimer?.cancel()
    lingerTimer = nil
  }

  override func didClose() {
    let onClose = self.onClose
    onRead = nil
    onPeerClosed = nil
    onDrain = nil
    self.onClose = nil
    pending = []
    onClose?(closeReason)
  }
}
