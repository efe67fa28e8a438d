/// A gRPC server: HTTP/2 connections from its own listeners or handed over
/// by a `ProtocolSniffer`, each stream a `GRPCServerCall` routed by its full
/// method path ("/etcdserverpb.KV/Range") to a registered handler.
///
/// Messages are raw bytes: decoding them is the caller's business, so Net
/// knows no protobuf. Handlers run on the loop thread and must not block;
/// they answer through the call, now or later.
///
/// Errors are answered as grpc-go answers them, so clients built on it see
/// the same codes and texts: an unknown path is UNIMPLEMENTED "unknown
/// service S" or "unknown method M for service S"; a request message over
/// `maxReceiveMessageBytes` is RESOURCE_EXHAUSTED; a call past its
/// grpc-timeout is cancelled and answered DEADLINE_EXCEEDED.
public final class GRPCServer: ConnectionServer {
  public struct Configuration: Sendable {
    /// Largest request message accepted (grpc-go's default: 4 MiB).
    public var maxReceiveMessageBytes = 4 << 20
    /// The RESOURCE_EXHAUSTED message for a request message of `size`
    /// bytes over `limit`; grpc-go's text unless the caller has its own.
    public var oversizedMessageText: @Sendable (_ size: Int, _ limit: Int) -> String = {
      "grpc: received message larger than max (\($0) vs. \($1))"
    }
    public var http2 = HTTP2Settings()
    /// Per-connection write bounds; HTTP/2 flushes stop at the high-water mark.
    public var writeLimits = TCPConnection.Limits()
    /// Bytes a call may have queued before `isWritable` turns false;
    /// `onWritable` fires when the queue is back to half of it.
    public var callWriteHighWaterMark = 256 * 1024

    public init() {}
  }

  /// What a method does with its messages; the four kinds of gRPC methods.
  public enum Handler {
    /// Called once the request message arrived; answers with at most one
    /// message and a status.
    case unary((GRPCServerCall, [UInt8]) -> Void)
    /// Called once the request message arrived; answers with any number.
    case serverStreaming((GRPCServerCall, [UInt8]) -> Void)
    /// Called when the call opens; requests arrive through `onMessage`
    /// until `onHalfClose`; answers with at most one message.
    case clientStreaming((GRPCServerCall) -> Void)
    /// Called when the call opens; both sides stream.
    case bidiStreaming((GRPCServerCall) -> Void)
  }

  public let loop: EventLoop
  public let configuration: Configuration
  private var handlers: [String: Handler] = [:]
  private var services: Set<Substring> = []
  private var listeners: [TCPListener] = []
  private var connections: [ObjectIdentifier: GRPCServerConnection] = [:]
  private var isShuttingDown = false
  private var shutdownCompletion: (() -> Void)?
  private var shutdownDeadline: LoopTimer?

  /// Loop thread only.
  public init(loop: EventLoop, configuration: Configuration = Configuration()) {
    self.loop = loop
    self.configuration = configuration
  }

  /// Routes calls to `path`, "/package.Service/Method". Registering a path
  /// again replaces its handler.
  public func register(_ path: String, _ handler: Handler) {
    let parts = Self.split(path)
    precondition(parts != nil, "a gRPC method path is /service/method, not \(path)")
    handlers[path] = handler
    services.insert(parts!.service)
  }

  /// The handler for `path`, or the status grpc-go answers when there is none.
  func handler(for path: String) -> Result<Handler, GRPCStatus> {
    if let handler = handlers[path] { return .success(handler) }
    guard let (service, method) = Self.split(path) else {
      // grpc-go 1.33 answers a path without a slash so.
      return .failure(GRPCStatus(.resourceExhausted, "malformed method name: \"\(path)\""))
    }
    if services.contains(service) {
      return .failure(GRPCStatus(.unimplemented, "unknown method \(method) for service \(service)"))
    }
    return .failure(GRPCStatus(.unimplemented, "unknown service \(service)"))
  }

  /// Service and method as grpc-go splits them: at the last slash after
  /// the leading one.
  private static func split(_ path: String) -> (service: Substring, method: Substring)? {
    let name = path.hasPrefix("/") ? path.dropFirst() : path[...]
    guard let slash = name.lastIndex(of: "/") else { return nil }
    return (name[..<slash], name[name.index(after: slash)...])
  }

  /// Listens on `address` and serves every connection it accepts as HTTP/2.
  @discardableResult
  public func listen(on address: SocketAddress, backlog: Int32 = 511) throws(NetError)
    -> TCPListener
  {
    let listener = try acceptConnections(on: address, backlog: backlog)
    listeners.append(listener)
    return listener
  }

  /// Connections currently open.
  public var connectionCount: Int { connections.count }

  /// Serves `connection` as HTTP/2 with prior knowledge; `initialBytes`
  /// (read by a sniffer, the client preface included) come first.
  public func serve(_ connection: TCPConnection, initialBytes: [UInt8]) {
    guard !isShuttingDown else { return connection.close() }
    connection.limits = configuration.writeLimits
    let grpc = GRPCServerConnection(server: self, transport: connection)
    connections[ObjectIdentifier(grpc)] = grpc
    grpc.http2.start(initialBytes: initialBytes)
  }

  func connectionDidClose(_ connection: GRPCServerConnection) {
    connections[ObjectIdentifier(connection)] = nil
    finishShutdownIfDone()
  }

  /// Graceful shutdown: stop listening, send every connection GOAWAY, let
  /// the calls in flight finish; after `deadlineMs` cancel what is left and
  /// close. `completion` runs once every connection is closed.
  public func shutdown(deadlineMs: UInt64, completion: @escaping () -> Void) {
    guard !isShuttingDown else { return }
    isShuttingDown = true
    shutdownCompletion = completion
    for listener in listeners { listener.close() }
    listeners = []
    for grpc in connections.values { grpc.http2.beginShutdown() }
    shutdownDeadline = LoopTimer.after(deadlineMs, on: loop) { [weak self] in
      guard let self else { return }
      for grpc in self.connections.values { grpc.http2.close() }
    }
    finishShutdownIfDone()
  }

  private func finishShutdownIfDone() {
    guard isShuttingDown, connections.isEmpty, let completion = shutdownCompletion else { return }
    shutdownCompletion = nil
    shutdownDeadline?.cancel()
    shutdownDeadline = nil
    completion()
  }
}
