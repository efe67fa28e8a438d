import Net

/// The gateway's gRPC connection to its own member's client port, made on
/// first use and again after it closes. Loop thread only.
final class LoopbackGRPCClient {
  private let loop: EventLoop
  private let address: SocketAddress
  private var connection: GRPCClientConnection?
  /// Callers waiting while the connection is being made.
  private var waiting: [(GRPCClientConnection?) -> Void] = []
  private var isClosed = false

  init(loop: EventLoop, address: SocketAddress) {
    self.loop = loop
    self.address = address
  }

  /// Hands `body` an open connection, or nil when none can be made.
  func withConnection(_ body: @escaping (GRPCClientConnection?) -> Void) {
    if let connection, connection.isAvailable { return body(connection) }
    guard !isClosed else { return body(nil) }
    waiting.append(body)
    guard waiting.count == 1 else { return }
    var configuration = GRPCClientConnection.Configuration()
    // etcd's gateway takes answers of any size its member sends.
    configuration.maxReceiveMessageBytes = Int(Int32.max)
    GRPCClientConnection.connect(
      loop: loop, to: address, configuration: configuration, timeoutMs: 5000
    ) { [weak self] result in
      guard let self else { return }
      let connection = try? result.get()
      if isClosed { connection?.close() }
      self.connection = isClosed ? nil : connection
      let ready = waiting
      waiting = []
      for body in ready { body(self.connection) }
    }
  }

  func close() {
    isClosed = true
    connection?.close()
    connection = nil
  }
}
