/// One stream's outgoing gRPC messages, framed, as nghttp2's DATA provider
/// pulls them, and how the stream ends once they are out.
///
/// Messages stay the arrays they were sent as, behind their 5-byte
/// prefixes, so a large one is never copied until nghttp2 copies each frame.
struct GRPCOutbox {
  private var chunks: [[UInt8]] = []
  /// Index of the first chunk not fully read.
  private var head = 0
  /// Bytes of `chunks[head]` already read.
  private var offset = 0
  /// Bytes queued and not yet read, prefixes included.
  private(set) var count = 0
  /// Set by `close`: the body ends after the queued bytes, followed by
  /// these trailers (server), or with END_STREAM on the last DATA frame
  /// (client, nil trailers).
  private var ending: HTTPHeaders??
  private(set) var isEnded = false

  var isClosed: Bool { ending != nil }

  mutating func append(message: [UInt8]) {
    precondition(!isClosed, "gRPC message queued after the stream's end")
    chunks.append(GRPCMessageDecoder.prefix(forLength: message.count))
    chunks.append(message)
    count += 5 + message.count
  }

  mutating func close(trailers: HTTPHeaders?) {
    precondition(!isClosed, "gRPC stream ended twice")
    ending = .some(trailers)
  }

  /// Copies the next bytes into `buffer`; the end comes with the last ones.
  mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> HTTP2BodyChunk {
    var copied = 0
    while copied < buffer.count && head < chunks.count {
      let chunk = chunks[head]
      let taken = min(chunk.count - offset, buffer.count - copied)
      chunk.withUnsafeBytes { source in
        let slice = UnsafeRawBufferPointer(rebasing: source[offset..<offset + taken])
        UnsafeMutableRawBufferPointer(rebasing: buffer[copied..<copied + taken]).copyMemory(
          from: slice)
      }
      copied += taken
      offset += taken
      if offset == chunk.count {
        head += 1
        offset = 0
      }
    }
    count -= copied
    if head == chunks.count {
      chunks.removeAll(keepingCapacity: chunks.count <= 64)
      head = 0
    } else if head >= 64 && head * 2 >= chunks.count {
      // A stream that never empties its queue still drops what it sent;
      // compacting at half keeps the cost amortized O(1) per chunk.
      chunks.removeFirst(head)
      head = 0
    }
    if count == 0, let ending, !isEnded {
      isEnded = true
      return .end(copied, trailers: ending)
    }
    return copied > 0 ? .bytes(copied) : .deferred
  }
}
