import EtcdProto
import Testing

@testable import Server

@Suite("Peer wire format")
struct PeerFrameTests {
  func message(_ index: UInt64, entries: Int = 2) -> Raftpb_Message {
    var m = Raftpb_Message()
    m.type = .msgApp
    m.from = 1
    m.to = 2
    m.term = 3
    m.index = index
    m.entries = (0..<entries).map { i in
      var e = Raftpb_Entry()
      e.index = index + UInt64(i) + 1
      e.term = 3
      e.data = .init(repeating: UInt8(i), count: 100 * i)
      return e
    }
    return m
  }

  @Test("a hello and frames come back whole at every split of the stream")
  func everySplit() throws {
    let hello = PeerWire.Hello(memberID: 0x8e9e_05c5_2164_694d, clusterID: 0xcdf8_1819_4e3a_8c32)
    let messages = (1...3).map { message(UInt64($0) * 10) }
    let stream = hello.encoded + messages.flatMap(PeerWire.frame)
    for split in 0...stream.count {
      var decoder = PeerFrameDecoder()
      var got = try decoder.feed(stream[..<split])
      got += try decoder.feed(stream[split...])
      #expect(decoder.hello == hello)
      #expect(got == messages, "split at \(split)")
    }
    var byteWise = PeerFrameDecoder()
    var got: [Raftpb_Message] = []
    for byte in stream { got += try byteWise.feed([byte]) }
    #expect(got == messages)
  }

  @Test("a stream that is not a peer's is refused at its first bytes")
  func notAPeer() {
    var decoder = PeerFrameDecoder()
    #expect(throws: PeerWire.WireError.notAPeer) { try decoder.feed(Array("GET / HTTP/1.1".utf8)) }
  }

  @Test("oversized and undecodable frames are protocol errors")
  func badFrames() {
    let hello = PeerWire.Hello(memberID: 1, clusterID: 2).encoded
    var big = PeerFrameDecoder()
    #expect(throws: PeerWire.WireError.frameTooLarge(Int(UInt32.max))) {
      try big.feed(hello + [0xFF, 0xFF, 0xFF, 0xFF])
    }
    var garbage = PeerFrameDecoder()
    #expect(throws: PeerWire.WireError.undecodable) {
      try garbage.feed(hello + [0, 0, 0, 3, 0xFF, 0xFF, 0xFF])
    }
  }
}
