/// A server that takes over accepted TCP connections: the HTTP/1.1 and
/// gRPC servers listen the same way and differ only in `serve`.
protocol ConnectionServer: AnyObject {
  var loop: EventLoop { get }
  func serve(_ connection: TCPConnection, initialBytes: [UInt8])
}

extension ConnectionServer {
  /// A listener on `address` that hands each connection to `serve`; one
  /// accepted after the server is gone is closed.
  func acceptConnections(on address: SocketAddress, backlog: Int32) throws(NetError)
    -> TCPListener
  {
    try TCPListener(loop: loop, address: address, backlog: backlog) { [weak self] connection in
      guard let self else { return connection.close() }
      serve(connection, initialBytes: [])
    }
  }
}
