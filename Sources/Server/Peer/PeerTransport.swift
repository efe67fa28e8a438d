import EtcdProto
import Logging
import Net

/// Carries raft messages between members: one outgoing TCP connection per
/// peer (hello, then frames), and whatever incoming connections peers open
/// to us. Loop thread only.
///
/// Delivery is best effort, as Raft expects: a message for a peer that is
/// down is dropped and the peer reported unreachable, so the leader stops
/// streaming to it and probes again later. Reconnects back off from 100 ms
/// to 2 s.
public final class PeerTransport {
  public struct Callbacks {
    public var message: (Raftpb_Message) -> Void
    public var unreachable: (UInt64) -> Void
    public var snapshotStatus: (_ member: UInt64, _ delivered: Bool) -> Void

    public init(
      message: @escaping (Raftpb_Message) -> Void, unreachable: @escaping (UInt64) -> Void,
      snapshotStatus: @escaping (UInt64, Bool) -> Void
    ) {
      self.message = message
      self.unreachable = unreachable
      self.snapshotStatus = snapshotStatus
    }
  }

  let loop: EventLoop
  let hello: PeerWire.Hello
  let callbacks: Callbacks
  let logger: Logger
  /// Takes connections that do not open with the peer hello: HTTP requests
  /// to the peer port (`GET /members` from a member that is joining).
  public var httpFallback: ((TCPConnection, [UInt8]) -> Void)?
  private var listeners: [TCPListener] = []
  private var peers: [UInt64: OutgoingPeer] = [:]
  private var incoming: [ObjectIdentifier: TCPConnection] = [:]

  public init(
    loop: EventLoop, memberID: UInt64, clusterID: UInt64, logger: Logger, callbacks: Callbacks
  ) {
    self.loop = loop
    hello = PeerWire.Hello(memberID: memberID, clusterID: clusterID)
    self.logger = logger
    self.callbacks = callbacks
  }

  /// Accepts peers' connections on `address`; returns the bound address.
  @discardableResult
  public func listen(on address: SocketAddress) throws(NetError) -> SocketAddress {
    let listener = try TCPListener(loop: loop, address: address) { [weak self] connection in
      self?.accept(connection)
    }
    listeners.append(listener)
    return listener.localAddress
  }

  /// Starts (or re-targets) the connection to a member.
  public func setPeer(_ id: UInt64, addresses: [SocketAddress]) {
    guard id != hello.memberID else { return }
    if let peer = peers[id] {
      peer.addresses = addresses
      return
    }
    peers[id] = OutgoingPeer(id: id, addresses: addresses, transport: self)
  }

  /// When the connection to `id` came up (loop clock, ms); nil while it
  /// is down. etcd's health checks before a reconfiguration ask this.
  public func activeSince(_ id: UInt64) -> UInt64? {
    peers[id]?.connectedSince
  }

  public func removePeer(_ id: UInt64) {
    peers.removeValue(forKey: id)?.stop()
  }

  public func send(_ messages: [Raftpb_Message]) {
    for message in messages {
      guard let peer = peers[message.to] else {
        if message.type == .msgSnap { callbacks.snapshotStatus(message.to, false) }
        continue
      }
      peer.send(message)
    }
  }

  public func stop() {
    for listener in listeners { listener.close() }
    listeners = []
    for peer in peers.values { peer.stop() }
    peers = [:]
    for connection in incoming.values { connection.close(reason: nil) }
    incoming = [:]
  }

  private func accept(_ connection: TCPConnection) {
    let magic = PeerWire.magic
    ProtocolSniffer.attach(connection, maxBytes: magic.count) { [weak self] bytes, _ in
      guard let self else { return .reject }
      if bytes.count >= magic.count && bytes.starts(with: magic) {
        return .handOver { [weak self] connection, buffered in
          self?.acceptPeer(connection, initialBytes: buffered)
        }
      }
      if magic.starts(with: bytes) { return .needMoreBytes }
      guard let httpFallback else { return .reject }
      return .handOver(httpFallback)
    }
  }

  private func acceptPeer(_ connection: TCPConnection, initialBytes: [UInt8]) {
    let key = ObjectIdentifier(connection)
    incoming[key] = connection
    var decoder = PeerFrameDecoder()
    connection.onRead = { [weak self, weak connection] bytes in
      guard let self, let connection else { return }
      do {
        let messages = try decoder.feed(bytes)
        if let peerHello = decoder.hello, peerHello.clusterID != hello.clusterID {
          logger.error(
            "rejected a peer of another cluster",
            metadata: [
              "remote-peer-id": "\(MemberID.format(peerHello.memberID))",
              "remote-peer-cluster-id": "\(MemberID.format(peerHello.clusterID))",
              "local-member-cluster-id": "\(MemberID.format(hello.clusterID))",
            ])
          connection.close(reason: nil)
          return
        }
        for message in messages { callbacks.message(message) }
      } catch {
        logger.warning("closed a bad peer connection", metadata: ["error": "\(error)"])
        connection.close(reason: nil)
      }
    }
    connection.onClose = { [weak self] _ in self?.incoming.removeValue(forKey: key) }
    connection.onPeerClosed = { [weak connection] in connection?.close(reason: nil) }
    initialBytes.withUnsafeBytes { connection.onRead?($0) }
  }
}

/// The connection to one peer and its reconnect policy.
final class OutgoingPeer {
  let id: UInt64
  var addresses: [SocketAddress]
  private weak var transport: PeerTransport?
  private var connection: TCPConnection?
  private(set) var connectedSince: UInt64?
  private var connecting = false
  private var stopped = false
  private var backoffMs: UInt64 = 100
  private var nextAddress = 0
  /// Snapshots written to the socket, reported delivered once it drains.
  private var snapshotsInFlight = 0

  init(id: UInt64, addresses: [SocketAddress], transport: PeerTransport) {
    self.id = id
    self.addresses = addresses
    self.transport = transport
    connect()
  }

  func send(_ message: Raftpb_Message) {
    guard let connection else {
      // Down: Raft resends after it probes again.
      if message.type == .msgSnap { transport?.callbacks.snapshotStatus(id, false) }
      transport?.callbacks.unreachable(id)
      return
    }
    connection.write(PeerWire.frame(message))
    if message.type == .msgSnap { snapshotsInFlight += 1 }
  }

  func stop() {
    stopped = true
    connection?.close(reason: nil)
    connection = nil
    connectedSince = nil
  }

  private func connect() {
    guard !stopped, !connecting, connection == nil, let transport, !addresses.isEmpty else {
      return
    }
    connecting = true
    let address = addresses[nextAddress % addresses.count]
    nextAddress += 1
    TCPConnector.connect(loop: transport.loop, to: address, timeoutMs: 1000) { [weak self] result in
      guard let self else {
        if case .success(let connection) = result { connection.close(reason: nil) }
        return
      }
      connecting = false
      switch result {
      case .success(let connection): connected(connection)
      case .failure: retryLater()
      }
    }
  }

  private func connected(_ connection: TCPConnection) {
    guard !stopped, let transport else {
      connection.close(reason: nil)
      return
    }
    backoffMs = 100
    connection.setNoDelay(true)
    // Peers get a deep queue: a snapshot may be large, and Raft bounds the
    // appends in flight itself.
    connection.limits = TCPConnection.Limits(highWaterMark: 64 << 20, hardLimit: 1 << 30)
    connection.onDrain = { [weak self] in self?.reportSnapshotsDelivered() }
    connection.onClose = { [weak self] _ in self?.disconnected() }
    connection.onPeerClosed = { [weak connection] in connection?.close(reason: nil) }
    // Nothing is read from an outgoing connection but its close.
    connection.onRead = { _ in }
    connection.startReading()
    connection.write(transport.hello.encoded)
    self.connection = connection
    connectedSince = transport.loop.nowMs
  }

  private func reportSnapshotsDelivered() {
    guard snapshotsInFlight > 0, let transport else { return }
    for _ in 0..<snapshotsInFlight { transport.callbacks.snapshotStatus(id, true) }
    snapshotsInFlight = 0
  }

  private func disconnected() {
    connection = nil
    connectedSince = nil
    if let transport {
      for _ in 0..<snapshotsInFlight { transport.callbacks.snapshotStatus(id, false) }
      transport.callbacks.unreachable(id)
    }
    snapshotsInFlight = 0
    retryLater()
  }

  private func retryLater() {
    guard !stopped, let transport else { return }
    let delay = backoffMs
    backoffMs = min(backoffMs * 2, 2000)
    LoopTimer.after(delay, on: transport.loop) { [weak self] in self?.connect() }
  }
}
