import Foundation
import Net
import Synchronization
import Testing

/// The standard gRPC health service, as etcd 3.4.23 serves it.
@Suite("grpc.health.v1.Health against etcd 3.4.23")
struct V3HealthTests {
  @Test("Check: SERVING for the empty name, NotFound for another; Watch sends SERVING and stays")
  func healthAsEtcd() throws {
    try Harness.withReferenceAndMember { reference, member in
      var answers: [String] = []
      for port in [reference.clientPort, member.clientPort] {
        let client = try V3Client(port: port)
        defer { client.close() }
        let all = client.unary("/grpc.health.v1.Health/Check", [])
        // HealthCheckRequest{service: "kv"}.
        let named = client.unary("/grpc.health.v1.Health/Check", [0x0A, 0x02, 0x6B, 0x76])
        let watched = Mutex<[[UInt8]]>([])
        let watchEnd = client.stream(
          "/grpc.health.v1.Health/Watch", seconds: 1,
          onMessage: { message in watched.withLock { $0.append(message) } }
        ) { call, _ in
          call.send([])
          call.closeSend()
        }
        answers.append(
          "\(all) \(named) \(watched.withLock { $0 }) ended: \(String(describing: watchEnd))")
      }
      // SERVING is 1: field 1, varint 1.
      #expect(answers[0].hasPrefix("success([8, 1]) "), "etcd: \(answers[0])")
      #expect(answers[0].contains("[[8, 1]] ended: nil"), "etcd: \(answers[0])")
      #expect(answers[1] == answers[0], "swetcd: \(answers[1])")
    }
  }
}
