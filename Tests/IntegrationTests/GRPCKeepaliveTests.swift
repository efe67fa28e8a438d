import EtcdProto
import Foundation
import Testing

/// gRPC keepalive on the client port: the pings a client may send
/// (--grpc-keepalive-min-time) and the member's own pings to a silent
/// client (--grpc-keepalive-interval, --grpc-keepalive-timeout), with a
/// raw HTTP/2 client against etcd 3.4.23 and swetcd.
@Suite("gRPC keepalive against etcd 3.4.23", .serialized)
struct GRPCKeepaliveTests {
  /// Sends `count` pings `gapMs` apart, reading after each until its
  /// answer; what came back, in order: "ack", the GOAWAY's code, last
  /// stream and debug text, and "closed" at the end of the connection.
  static func pings(_ raw: RawHTTP2, count: Int, gapMs: UInt32) -> [String] {
    var seen: [String] = []
    for n in 0..<count {
      guard raw.ping(UInt64(n)) else { return seen + ["closed"] }
      while let frame = raw.readFrame() {
        if frame.type == RawHTTP2.FrameType.ping.rawValue && frame.flags & RawHTTP2.ack != 0 {
          seen.append("ack")
          break
        }
        if frame.type == RawHTTP2.FrameType.goAway.rawValue {
          let word = { (at: Int) in frame.payload[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
          let debug = String(decoding: frame.payload.dropFirst(8), as: UTF8.self)
          seen.append("goaway \(word(4)) last \(word(0) & 0x7FFF_FFFF) \(debug)")
          while raw.readFrame() != nil {}
          return seen + ["closed"]
        }
      }
      usleep(gapMs * 1000)
    }
    return seen
  }

  @Test("pings sooner than --grpc-keepalive-min-time: the third strike ends the connection")
  func tooManyPings() throws {
    try Harness.withReferenceAndMember { reference, member in
      for (name, port) in [("etcd", reference.clientPort), ("swetcd", member.clientPort)] {
        let idle = try #require(RawHTTP2(port: port, initialWindow: 65_535))
        defer { idle.close() }
        #expect(
          Self.pings(idle, count: 5, gapMs: 100)
            == ["ack", "ack", "ack", "ack", "goaway 11 last 0 too_many_pings", "closed"], "\(name)")
        // With a call open the bound is the flag's 5 s rather than 2 hours.
        let busy = try #require(RawHTTP2(port: port, initialWindow: 65_535))
        defer { busy.close() }
        #expect(busy.startCall(stream: 1, path: "/etcdserverpb.Watch/Watch"))
        #expect(
          Self.pings(busy, count: 5, gapMs: 100)
            == ["ack", "ack", "ack", "ack", "goaway 11 last 1 too_many_pings", "closed"], "\(name)")
        // Anything the server sends forgives the strikes so far.
        let answered = try #require(RawHTTP2(port: port, initialWindow: 65_535))
        defer { answered.close() }
        #expect(answered.startCall(stream: 1, path: "/etcdserverpb.Watch/Watch"))
        #expect(Self.pings(answered, count: 3, gapMs: 100) == ["ack", "ack", "ack"], "\(name)")
        var create = Etcdserverpb_WatchRequest()
        create.createRequest.key = Data("k".utf8)
        #expect(answered.send(messages: [try [UInt8](create.serializedData())], stream: 1))
        var frame = answered.readFrame()
        while let type = frame?.type, type != RawHTTP2.FrameType.data.rawValue {
          frame = answered.readFrame()
        }
        #expect(frame != nil, "\(name): the watch was not created")
        #expect(
          Self.pings(answered, count: 5, gapMs: 100)
            == ["ack", "ack", "ack", "ack", "goaway 11 last 1 too_many_pings", "closed"], "\(name)")
      }
      #expect(member.isUp)
    }
  }

  @Test("the keepalive flags: pings as often as allowed pass; a silent client is pinged, then cut")
  func keepaliveFlags() throws {
    let flags = [
      "--grpc-keepalive-min-time=150ms", "--grpc-keepalive-interval=1s",
      "--grpc-keepalive-timeout=1s",
    ]
    try Harness.withReferenceAndMember(extraArguments: flags) { reference, member in
      for (name, port) in [("etcd", reference.clientPort), ("swetcd", member.clientPort)] {
        let busy = try #require(RawHTTP2(port: port, initialWindow: 65_535))
        defer { busy.close() }
        #expect(busy.startCall(stream: 1, path: "/etcdserverpb.Watch/Watch"))
        #expect(
          Self.pings(busy, count: 6, gapMs: 400) == Array(repeating: "ack", count: 6), "\(name)")
        // Without a call open, the flag does not apply: 2 hours do.
        let idle = try #require(RawHTTP2(port: port, initialWindow: 65_535))
        defer { idle.close() }
        #expect(
          Self.pings(idle, count: 5, gapMs: 250)
            == ["ack", "ack", "ack", "ack", "goaway 11 last 0 too_many_pings", "closed"], "\(name)")

        let silent = try #require(RawHTTP2(port: port, initialWindow: 65_535))
        defer { silent.close() }
        let start = Date()
        var pinged: TimeInterval?
        var closed: TimeInterval?
        for _ in 0..<100 {
          guard let frame = silent.readFrame() else {
            closed = Date().timeIntervalSince(start)
            break
          }
          if frame.type == RawHTTP2.FrameType.ping.rawValue && frame.flags & RawHTTP2.ack == 0 {
            pinged = pinged ?? Date().timeIntervalSince(start)
          }
        }
        // Pinged after about 1 s of silence; closed about 1 s later (bounds
        // loose for a loaded machine).
        #expect(
          pinged.map { $0 > 0.5 && $0 < 4 } == true,
          "\(name): pinged at \(String(describing: pinged))")
        #expect(
          closed.map { $0 > 1.5 && $0 < 8 } == true,
          "\(name): closed at \(String(describing: closed))")
      }
    }
  }
}
