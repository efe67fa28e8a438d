import CLibUV

/// A listening TCP socket handing each accepted connection to `onAccept`.
///
/// Accepted connections are not reading yet: the receiver installs its
/// closures and calls `startReading()` (or hands the connection to a
/// `ProtocolSniffer`). A connection nobody keeps stays open until the peer
/// or `EventLoop.close()` ends it.
public final class TCPListener: LoopHandle {
  private var onAccept: ((TCPConnection) -> Void)?
  /// The bound address; with port 0, the port the kernel chose.
  public private(set) var localAddress: SocketAddress

  /// Binds and listens. Loop thread only.
  public init(
    loop: EventLoop, address: SocketAddress, backlog: Int32 = 511,
    onAccept: @escaping (TCPConnection) -> Void
  ) throws(NetError) {
    self.onAccept = onAccept
    localAddress = address
    super.init(loop: loop, type: UV_TCP)
    let tcp = rawHandle.assumingMemoryBound(to: uv_tcp_t.self)
    try uvCheck(uv_tcp_init(loop.uvLoop, tcp))
    adoptHandle()
    do {
      try uvCheck(address.withSockAddr { uv_tcp_bind(tcp, $0, 0) })
      let stream = rawHandle.assumingMemoryBound(to: uv_stream_t.self)
      try uvCheck(
        uv_listen(stream, backlog) { stream, status in
          (LoopHandle.owner(of: stream) as? TCPListener)?.accept(status)
        })
      localAddress = try boundAddress(tcp)
    } catch {
      close()
      throw error
    }
  }

  private func boundAddress(_ tcp: UnsafeMutablePointer<uv_tcp_t>) throws(NetError) -> SocketAddress
  {
    var storage = sockaddr_storage()
    var length = Int32(MemoryLayout<sockaddr_storage>.size)
    let rc = withUnsafeMutablePointer(to: &storage) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_getsockname(tcp, $0, &length) }
    }
    try uvCheck(rc)
    guard let address = SocketAddress(storage) else { throw .invalidAddress("getsockname") }
    return address
  }

  private func accept(_ status: Int32) {
    // A failed accept (EMFILE, say) concerns one connection, not the listener.
    guard status >= 0, !isClosing, let connection = try? TCPConnection(loop: loop) else { return }
    let stream = rawHandle.assumingMemoryBound(to: uv_stream_t.self)
    guard uv_accept(stream, connection.stream) == 0 else {
      connection.close()
      return
    }
    onAccept?(connection)
  }

  override func willClose() { onAccept = nil }
}
