import Foundation
import Testing

/// Python grpcio, a gRPC stack built by others, against our server. The
/// checks live in clients/grpcio_interop.py; grpcio is pinned in the venv
/// tools/setup makes.
@Suite struct GRPCInteropTests {
  static let repository = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  @Test("grpcio: every kind of call, 3 MiB messages, 500 at once, errors, deadline, cancel")
  func grpcioClient() throws {
    let python = Self.repository.appendingPathComponent(".build-py/venv/bin/python").path
    try #require(
      FileManager.default.isExecutableFile(atPath: python),
      "no grpcio venv at \(python): run tools/setup")
    let script = Self.repository
      .appendingPathComponent("Tests/NetTests/clients/grpcio_interop.py").path
    let fixture = try GRPCFixture.start()
    defer { fixture.stop() }
    let (status, output) = try runProcess(python, [script, "\(fixture.port)"])
    #expect(status == 0 && output == "OK\n", "grpcio_interop.py exited \(status): \(output)")
  }
}

extension GRPCInteropTests {
  /// etcdctl 3.4 is grpc-go 1.33, the client swetcd's v3 API must satisfy.
  /// Net knows no etcd, so the test service answers etcdctl's paths with
  /// what needs no protobuf: an empty message is a valid, empty
  /// RangeResponse; other calls get statuses.
  @Test("etcdctl (grpc-go 1.33): a unary call, an error status, an unknown service on a stream")
  func etcdctlClient() throws {
    let etcdctl = "/usr/bin/etcdctl"
    try #require(
      FileManager.default.isExecutableFile(atPath: etcdctl), "no \(etcdctl): run tools/setup")
    let fixture = try GRPCFixture.start()
    defer { fixture.stop() }
    _ = try fixture.runner.sync {
      let server = fixture.server.value!
      server.register("/etcdserverpb.KV/Range", .unary { call, _ in call.respond([]) })
      server.register(
        "/etcdserverpb.KV/Put",
        .unary { call, _ in call.finish(status: .failedPrecondition, message: "no puts: 100% ü") })
      return true
    }
    func run(_ arguments: String) throws -> String {
      let command =
        "ETCDCTL_API=3 timeout 10 \(etcdctl) --dial-timeout=3s --command-timeout=5s "
        + "--endpoints=http://127.0.0.1:\(fixture.port) \(arguments) 2>&1 | grep -v '\"level\"'"
      return try runProcess("/bin/sh", ["-c", command]).1
    }
    #expect(try run("get foo") == "")
    #expect(
      try run("put foo bar")
        == "Error: rpc error: code = FailedPrecondition desc = no puts: 100% ü\n")
    #expect(
      try run("watch foo")
        == "watch was canceled (rpc error: code = Unimplemented desc = unknown service "
        + "etcdserverpb.Watch)\nError: watch is canceled by the server\n")
  }
}
