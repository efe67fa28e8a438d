import EtcdProto
import SwiftProtobuf

/// The peer wire format: raft messages between members over one TCP
/// connection per direction.
///
/// A connection opens with a 24-byte hello: the magic `swetcdp1`, the
/// sender's member ID and the cluster ID (big-endian u64s), so a member of
/// another cluster is refused before any message is read. Then frames: a
/// big-endian u32 length followed by that many bytes of `Raftpb_Message`.
public enum PeerWire {
  static let magic: [UInt8] = Array("swetcdp1".utf8)
  public static let helloSize = 24
  /// Large enough for a snapshot carried inline in a MsgSnap.
  public static let maxFrameSize = 1 << 30

  public struct Hello: Equatable, Sendable {
    public var memberID: UInt64
    public var clusterID: UInt64

    public init(memberID: UInt64, clusterID: UInt64) {
      self.memberID = memberID
      self.clusterID = clusterID
    }

    public var encoded: [UInt8] {
      magic + bigEndian(memberID) + bigEndian(clusterID)
    }
  }

  public enum WireError: Error, Equatable, CustomStringConvertible {
    case notAPeer
    case frameTooLarge(Int)
    case undecodable

    public var description: String {
      switch self {
      case .notAPeer: "the connection did not start with a swetcd peer hello"
      case .frameTooLarge(let size): "peer frame of \(size) bytes exceeds the limit"
      case .undecodable: "peer frame is not a raft message"
      }
    }
  }

  /// One length-prefixed frame holding `message`.
  public static func frame(_ message: Raftpb_Message) -> [UInt8] {
    let body: [UInt8] = (try? message.serializedBytes()) ?? []
    return bigEndian(UInt32(body.count)) + body
  }

  static func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
  }

  static func readBigEndian<T: FixedWidthInteger>(_ bytes: ArraySlice<UInt8>) -> T {
    bytes.reduce(T(0)) { $0 << 8 | T($1) }
  }
}

/// Splits a peer connection's byte stream into its hello and messages,
/// whatever the read boundaries. Owns the bytes it buffers.
public struct PeerFrameDecoder {
  private var buffer: [UInt8] = []
  private var start = 0
  public private(set) var hello: PeerWire.Hello?

  public init() {}

  /// Feeds bytes; returns the messages completed by them. Throws on a
  /// protocol violation, after which the connection must be closed.
  public mutating func feed(_ bytes: some Collection<UInt8>) throws(PeerWire.WireError)
    -> [Raftpb_Message]
  {
    buffer.append(contentsOf: bytes)
    var messages: [Raftpb_Message] = []
    if hello == nil {
      guard available >= PeerWire.helloSize else {
        if !PeerWire.magic.starts(with: buffer[start...].prefix(8)) { throw .notAPeer }
        return []
      }
      guard buffer[start..<start + 8].elementsEqual(PeerWire.magic) else { throw .notAPeer }
      hello = PeerWire.Hello(
        memberID: PeerWire.readBigEndian(buffer[start + 8..<start + 16]),
        clusterID: PeerWire.readBigEndian(buffer[start + 16..<start + 24]))
      start += PeerWire.helloSize
    }
    while available >= 4 {
      let length = Int(PeerWire.readBigEndian(buffer[start..<start + 4]) as UInt32)
      guard length <= PeerWire.maxFrameSize else { throw .frameTooLarge(length) }
      guard available >= 4 + length else { break }
      let body = buffer[start + 4..<start + 4 + length]
      guard let message = try? Raftpb_Message(serializedBytes: Array(body)) else {
        throw .undecodable
      }
      messages.append(message)
      start += 4 + length
    }
    // Compact once the consumed prefix dominates, so buffering stays linear.
    if start > 0 && start * 2 >= buffer.count {
      buffer.removeFirst(start)
      start = 0
    }
    return messages
  }

  private var available: Int { buffer.count - start }
}
