import CNghttp2
import Foundation
import Net

#if canImport(Glibc)
  import Glibc
#endif

/// A hand-driven HTTP/2 client connection over a blocking socket, for
/// clients that misbehave on purpose: one that never reads, or never
/// grants the server window to send in. Frames are written as given;
/// nothing is acknowledged unless a test does it.
struct RawHTTP2 {
  enum FrameType: UInt8 {
    case data = 0
    case headers = 1
    case rstStream = 3
    case settings = 4
    case ping = 6
    case goAway = 7
    case windowUpdate = 8
  }

  static let endStream: UInt8 = 0x1
  /// On SETTINGS and PING.
  static let ack: UInt8 = 0x1
  static let endHeaders: UInt8 = 0x4

  let fd: Int32

  /// Connects and sends the client preface with SETTINGS that give every
  /// stream `initialWindow` bytes of receive window.
  init?(port: Int, initialWindow: UInt32) {
    guard let fd = Harness.connectLoopback(port: port, timeout: 5) else { return nil }
    self.fd = fd
    // SETTINGS_INITIAL_WINDOW_SIZE is setting 4.
    let settings: [UInt8] = [0, 4] + Self.bigEndian(initialWindow)
    guard write(ProtocolSniffer.http2Preface + Self.frame(.settings, stream: 0, settings)) else {
      Glibc.close(fd)
      return nil
    }
  }

  func close() { Glibc.close(fd) }

  /// Request headers of a gRPC call, HPACK-encoded without the dynamic
  /// table or Huffman coding.
  func startCall(stream: UInt32, path: String) -> Bool {
    var block: [UInt8] = [0x83, 0x86]  // :method POST, :scheme http
    block += Self.literal(nameIndex: 4, path)  // :path
    block += Self.literal(nameIndex: 1, "localhost")  // :authority
    block += [0x0F, 0x10] + Self.string("application/grpc")  // content-type (index 31)
    block += [0x00] + Self.string("te") + Self.string("trailers")
    return write(Self.frame(.headers, flags: Self.endHeaders, stream: stream, block))
  }

  /// Length-prefixed gRPC messages, as many per DATA frame as fit in 16 KiB.
  func send(messages: [[UInt8]], stream: UInt32) -> Bool {
    var payload: [UInt8] = []
    for message in messages {
      let framed = [0] + Self.bigEndian(UInt32(message.count)) + message
      if payload.count + framed.count > 16_384 {
        guard write(Self.frame(.data, stream: stream, payload)) else { return false }
        payload = []
      }
      payload += framed
    }
    return payload.isEmpty || write(Self.frame(.data, stream: stream, payload))
  }

  func ping(_ payload: UInt64) -> Bool {
    let bytes =
      Self.bigEndian(UInt32(payload >> 32)) + Self.bigEndian(UInt32(payload & 0xFFFF_FFFF))
    return write(Self.frame(.ping, stream: 0, bytes))
  }

  func grantWindow(stream: UInt32, _ increment: UInt32) -> Bool {
    write(Self.frame(.windowUpdate, stream: stream, Self.bigEndian(increment)))
  }

  /// The next frame from the server; nil at EOF, on error or after the
  /// socket's 5 s receive timeout.
  func readFrame() -> (type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8])? {
    guard let header = readExactly(9) else { return nil }
    let length = Int(header[0]) << 16 | Int(header[1]) << 8 | Int(header[2])
    let stream = header[5...8].reduce(UInt32(0)) { $0 << 8 | UInt32($1) } & 0x7FFF_FFFF
    guard let payload = readExactly(length) else { return nil }
    return (header[3], header[4], stream, payload)
  }

  /// The fields of each header block the server sent, in the order it
  /// sent them: the blocks share one HPACK dynamic table, so a later block
  /// can only be decoded after every earlier one.
  static func decodeHeaders(_ blocks: [[UInt8]]) -> [[String: String]] {
    var inflater: OpaquePointer?
    guard nghttp2_hd_inflate_new(&inflater) == 0, let inflater else { return [] }
    defer { nghttp2_hd_inflate_del(inflater) }
    return blocks.map { block in
      var fields: [String: String] = [:]
      var offset = 0
      while offset <= block.count {
        var field = nghttp2_nv()
        var flags: Int32 = 0
        let used = block.withUnsafeBufferPointer {
          nghttp2_hd_inflate_hd2(
            inflater, &field, &flags, $0.baseAddress! + offset, block.count - offset, 1)
        }
        guard used >= 0 else { break }
        offset += used
        if flags & Int32(NGHTTP2_HD_INFLATE_EMIT.rawValue) != 0 {
          fields[text(field.name, field.namelen)] = text(field.value, field.valuelen)
        }
        if flags & Int32(NGHTTP2_HD_INFLATE_FINAL.rawValue) != 0 {
          nghttp2_hd_inflate_end_headers(inflater)
          break
        }
        if used == 0 && flags == 0 { break }
      }
      return fields
    }
  }

  private static func text(_ bytes: UnsafeMutablePointer<UInt8>?, _ count: Int) -> String {
    String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
  }

  private func readExactly(_ count: Int) -> [UInt8]? {
    var bytes = [UInt8](repeating: 0, count: count)
    var done = 0
    while done < count {
      let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, count - done) }
      guard n > 0 else { return nil }
      done += n
    }
    return bytes
  }

  private func write(_ bytes: [UInt8]) -> Bool {
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
      guard n > 0 else { return false }
      done += n
    }
    return true
  }

  static func frame(
    _ type: FrameType, flags: UInt8 = 0, stream: UInt32, _ payload: [UInt8]
  ) -> [UInt8] {
    Array(bigEndian(UInt32(payload.count)).dropFirst()) + [type.rawValue, flags]
      + bigEndian(stream) + payload
  }

  static func bigEndian(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
  }

  /// A literal field without indexing whose name is in the static table
  /// (index under 15).
  private static func literal(nameIndex: UInt8, _ value: String) -> [UInt8] {
    [nameIndex] + string(value)
  }

  /// A string without Huffman coding, under 127 bytes.
  private static func string(_ text: String) -> [UInt8] {
    [UInt8(text.utf8.count)] + Array(text.utf8)
  }
}
