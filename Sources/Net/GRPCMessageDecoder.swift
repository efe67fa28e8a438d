/// Reassembles gRPC's length-prefixed messages from a stream's DATA,
/// however the frames split them: a 1-byte compressed flag, a 4-byte
/// big-endian length, then that many bytes.
///
/// A message over `maxMessageBytes` is refused as soon as its prefix shows
/// the length, before any of it is buffered. Compressed messages are
/// refused: we never advertise an encoding, so a peer has no business
/// sending one.
struct GRPCMessageDecoder {
  enum Failure: Error, Equatable {
    /// The prefix announced this many bytes, more than the limit.
    case tooLarge(Int)
    /// The compressed flag was set.
    case compressed
    /// The flag byte was neither 0 nor 1.
    case badFlag(UInt8)
  }

  let maxMessageBytes: Int
  private var prefix: [UInt8] = []
  private var message: [UInt8] = []
  /// Length of the message being read; nil while reading a prefix.
  private var expected: Int?

  init(maxMessageBytes: Int) {
    self.maxMessageBytes = maxMessageBytes
  }

  /// True when some bytes of a message have arrived but not all.
  var isMidMessage: Bool { !prefix.isEmpty || expected != nil }

  /// Consumes `bytes` and returns the messages they completed, in order.
  mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> [[UInt8]] {
    var messages: [[UInt8]] = []
    var rest = bytes[...]
    while !rest.isEmpty {
      guard let length = expected else {
        let taken = rest.prefix(5 - prefix.count)
        prefix += taken
        rest = rest.dropFirst(taken.count)
        if prefix.count == 5 { try startMessage() }
        if expected == 0 { messages.append(finishMessage()) }
        continue
      }
      let taken = rest.prefix(length - message.count)
      message += taken
      rest = rest.dropFirst(taken.count)
      if message.count == length { messages.append(finishMessage()) }
    }
    return messages
  }

  private mutating func startMessage() throws(Failure) {
    switch prefix[0] {
    case 0: break
    case 1: throw .compressed
    default: throw .badFlag(prefix[0])
    }
    // Four bytes big-endian: at most 2^32 - 1, which fits an Int on 64-bit.
    let length = prefix[1...4].reduce(0) { $0 << 8 | Int($1) }
    guard length <= maxMessageBytes else { throw .tooLarge(length) }
    prefix = []
    expected = length
    message.reserveCapacity(length)
  }

  private mutating func finishMessage() -> [UInt8] {
    let complete = message
    message = []
    expected = nil
    return complete
  }

  /// The 5-byte prefix that goes before a message of `length` bytes.
  static func prefix(forLength length: Int) -> [UInt8] {
    precondition(length <= Int(UInt32.max), "a gRPC message is at most 4 GiB")
    return [
      0, UInt8(length >> 24 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF),
      UInt8(length & 0xFF),
    ]
  }
}

extension GRPCMessageDecoder.Failure {
  /// The status grpc-go ends a call with for this failure; `oversizedText`
  /// words RESOURCE_EXHAUSTED from the size and `limit`.
  func status(limit: Int, oversizedText: (Int, Int) -> String) -> GRPCStatus {
    switch self {
    case .tooLarge(let size):
      return GRPCStatus(.resourceExhausted, oversizedText(size, limit))
    case .compressed:
      return GRPCStatus(.internalError, "grpc: compressed flag set with identity or empty encoding")
    case .badFlag(let flag):
      return GRPCStatus(.internalError, "grpc: received unexpected payload format \(flag)")
    }
  }
}
