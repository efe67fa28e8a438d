/// An HTTP/1.1 server: connections from its own listeners or handed over by
/// a `ProtocolSniffer`, each run by an `HTTPConnection` state machine.
///
/// The handler runs on the loop thread once per complete request and must not
/// block; it answers through the responder now or later.
public final class HTTPServer: ConnectionServer {
  public struct Configuration: Sendable {
    /// Request line plus headers; more is answered with 431 and a close.
    public var maxHeaderBytes = 64 * 1024
    /// Body size; more is answered with 413 and a close, as soon as
    /// Content-Length shows it.
    public var maxBodyBytes = 1_572_864
    /// Requests answered concurrently per connection before reading pauses.
    public var maxPipelinedRequests = 16
    /// Per-connection write bounds (pause reading, then cut off).
    public var writeLimits = TCPConnection.Limits()
    /// How long a request may take to arrive in full, headers and body, from
    /// its first byte (or from the end of the answers it waited behind); then
    /// it is answered with 408 and the connection closes. Time spent
    /// answering requests never counts.
    ///
    /// Both timeouts are checked every quarter of the shorter one (clamped
    /// to 10 ms ... 1 s), so they may fire up to two such periods late.
    public var requestReadTimeoutMs: UInt64 = 30_000
    /// How long a connection may stay open with nothing to answer and no
    /// request arriving (a new connection that sends nothing included); then
    /// it closes without a word.
    public var idleTimeoutMs: UInt64 = 300_000

    public init() {}
  }

  public let loop: EventLoop
  public let configuration: Configuration
  private let handler: (HTTPRequest, HTTPResponder) -> Void
  private var listeners: [TCPListener] = []
  private var connections: [ObjectIdentifier: HTTPConnection] = [:]
  private var isShuttingDown = false
  private var shutdownCompletion: (() -> Void)?
  private var shutdownDeadline: LoopTimer?
  /// Walks the connections to enforce their timeouts; runs only while there
  /// are some. One timer for all keeps thousands of idle long-polls cheap.
  private var sweepTimer: LoopTimer?

  /// Loop thread only.
  public init(
    loop: EventLoop, configuration: Configuration = Configuration(),
    handler: @escaping (HTTPRequest, HTTPResponder) -> Void
  ) {
    self.loop = loop
    self.configuration = configuration
    self.handler = handler
  }

  /// Listens on `address` and serves every connection it accepts.
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

  /// Serves `connection`, treating `initialBytes` (already read by a
  /// sniffer) as its first input.
  public func serve(_ connection: TCPConnection, initialBytes: [UInt8]) {
    guard !isShuttingDown else { return connection.close() }
    let limits = HTTPConnection.Limits(
      parser: .init(
        maxHeaderBytes: configuration.maxHeaderBytes, maxBodyBytes: configuration.maxBodyBytes),
      maxPipelinedRequests: configuration.maxPipelinedRequests,
      maxBufferedResponseBytes: configuration.writeLimits.hardLimit,
      requestReadTimeoutMs: configuration.requestReadTimeoutMs,
      idleTimeoutMs: configuration.idleTimeoutMs)
    let http = HTTPConnection(transport: connection, limits: limits, handler: handler)
    let id = ObjectIdentifier(http)
    connections[id] = http
    startSweep()
    connection.limits = configuration.writeLimits
    connection.setNoDelay(true)
    // The connection's closures own `http` until its close callback drops them.
    connection.onRead = { http.receive($0) }
    connection.onPeerClosed = { http.peerClosed() }
    connection.onDrain = { http.transportDrained() }
    connection.onClose = { [weak self] _ in
      http.transportClosed()
      self?.connectionDidClose(id)
    }
    connection.startReading()
    if !initialBytes.isEmpty { initialBytes.withUnsafeBytes { http.receive($0) } }
  }

  /// Graceful shutdown: stop listening, close idle connections, let open
  /// responses finish; after `deadlineMs` close whatever is left.
  /// `completion` runs once every connection is closed.
  public func shutdown(deadlineMs: UInt64, completion: @escaping () -> Void) {
    guard !isShuttingDown else { return }
    isShuttingDown = true
    shutdownCompletion = completion
    stopSweep()
    for listener in listeners { listener.close() }
    listeners = []
    for http in connections.values { http.beginShutdown() }
    shutdownDeadline = LoopTimer.after(deadlineMs, on: loop) { [weak self] in
      guard let self else { return }
      for http in self.connections.values { http.transport.close() }
    }
    finishShutdownIfDone()
  }

  private func connectionDidClose(_ id: ObjectIdentifier) {
    connections[id] = nil
    if connections.isEmpty { stopSweep() }
    finishShutdownIfDone()
  }

  private func startSweep() {
    guard sweepTimer == nil else { return }
    // Lateness is bounded by the period: a quarter of the shorter timeout,
    // but at least 10 ms so tiny timeouts do not spin the loop and at most a
    // second so production timeouts stay close to exact.
    let shortest = min(configuration.requestReadTimeoutMs, configuration.idleTimeoutMs)
    let period = min(max(shortest / 4, 10), 1000)
    sweepTimer = LoopTimer.every(period, on: loop) { [weak self] in
      guard let self else { return }
      let now = self.loop.nowMs
      for http in self.connections.values { http.expire(now: now) }
    }
  }

  private func stopSweep() {
    sweepTimer?.cancel()
    sweepTimer = nil
  }

  private func finishShutdownIfDone() {
    guard isShuttingDown, connections.isEmpty, let completion = shutdownCompletion else { return }
    shutdownCompletion = nil
    shutdownDeadline?.cancel()
    shutdownDeadline = nil
    completion()
  }
}
