/// Picks a protocol handler from a connection's first bytes.
///
/// `attach` buffers input until `choose` decides; the chosen handler then
/// owns the connection (and must install its own closures) and receives every
/// byte buffered so far, which may be more than were needed to decide.
public enum ProtocolSniffer {
  /// The client connection preface of HTTP/2 with prior knowledge (RFC 7540 §3.5).
  public static let http2Preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

  public enum Decision {
    /// Undecided; asked again with more bytes, or with `isFinal` at EOF/limit.
    case needMoreBytes
    case handOver((TCPConnection, [UInt8]) -> Void)
    case reject
  }

  public enum WireProtocol: Sendable, Equatable {
    case http2PriorKnowledge
    case http1
  }

  /// HTTP/2 iff the prefix is (so far) the preface; nil while a prefix of it.
  public static func classify(_ prefix: some Collection<UInt8>) -> WireProtocol? {
    for (index, byte) in prefix.prefix(http2Preface.count).enumerated()
    where byte != http2Preface[index] {
      return .http1
    }
    return prefix.count >= http2Preface.count ? .http2PriorKnowledge : nil
  }

  /// Starts reading `connection` and calls `choose(bufferedBytes, isFinal)`
  /// after each read; `isFinal` is true once `maxBytes` are buffered or the
  /// peer sent EOF, and undecided then means reject (close).
  public static func attach(
    _ connection: TCPConnection, maxBytes: Int = http2Preface.count,
    choose: @escaping ([UInt8], _ isFinal: Bool) -> Decision
  ) {
    var buffered: [UInt8] = []
    var sawEOF = false
    func decide(isFinal: Bool) {
      switch choose(buffered, isFinal) {
      case .needMoreBytes where !isFinal:
        return
      case .handOver(let handler):
        connection.onRead = nil
        connection.onPeerClosed = nil
        handler(connection, buffered)
        // The EOF was consumed here; the new owner still has to hear of it.
        if sawEOF { connection.onPeerClosed?() }
      case .needMoreBytes, .reject:
        connection.close()
      }
    }
    connection.onRead = { bytes in
      buffered.append(contentsOf: bytes)
      decide(isFinal: buffered.count >= maxBytes)
    }
    connection.onPeerClosed = {
      sawEOF = true
      decide(isFinal: true)
    }
    connection.startReading()
  }
}
