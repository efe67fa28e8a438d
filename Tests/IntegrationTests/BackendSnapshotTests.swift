import Foundation
import Testing

/// Maintenance.Snapshot and Maintenance.Hash against a real member.
@Suite("backend snapshot and hash", .serialized)
struct BackendSnapshotTests {
  @Test("etcdctl snapshot save: etcd's output, the whole file, and a SHA-256 trailer")
  func snapshotSave() throws {
    try Harness.withSingleMember { member, dir in
      func ctl(_ arguments: String...) -> String {
        Harness.run(
          ["ETCDCTL_API=3", "etcdctl", "--endpoints", member.clientURL] + arguments, timeout: 20)
      }
      // Over 32 KiB chunks, so the stream has many messages.
      let big = String(repeating: "z", count: 100_000)
      #expect(ctl("put", "big", big) == "OK\n")
      #expect(ctl("put", "marker", "only-in-the-snapshot-0123456789") == "OK\n")
      let path = dir + "/saved.db"
      #expect(ctl("snapshot", "save", path) == "Snapshot saved at \(path)\n")
      let saved = try Data(contentsOf: URL(fileURLWithPath: path))
      #expect(saved.count > 100_000 + 32)
      let digest = Harness.run(
        ["sh", "-c", "head -c \(saved.count - 32) \(path) | sha256sum | cut -c1-64"], timeout: 5)
      let trailer = saved.suffix(32).map { String(format: "%02x", $0) }.joined()
      #expect(digest == trailer + "\n", "the last 32 bytes are the SHA-256 of the rest")
      #expect(saved.range(of: Data("only-in-the-snapshot-0123456789".utf8)) != nil)
      #expect(!FileManager.default.fileExists(atPath: path + ".part"))
      let leftovers = try FileManager.default.contentsOfDirectory(
        atPath: member.dataDir + "/member/snap"
      ).filter { $0.hasPrefix("db.copy") }
      #expect(leftovers.isEmpty, "the server's temporary copy is gone")
    }
  }

  @Test("Hash: the same until a write changes it, through grpcio")
  func hash() throws {
    let python = PythonEtcdTests.repository.appendingPathComponent(".build-py/venv/bin/python").path
    try #require(
      FileManager.default.isExecutableFile(atPath: python),
      "no Python venv at \(python): run tools/setup")
    try Harness.withSingleMember { member, _ in
      func hash() -> String {
        let script = """
          import grpc, etcd3.etcdrpc as rpc
          stub = rpc.MaintenanceStub(grpc.insecure_channel("127.0.0.1:\(member.clientPort)"))
          r = stub.Hash(rpc.HashRequest(), timeout=5)
          print(r.hash, r.header.revision)
          """
        return Harness.run([python, "-c", script], timeout: 20, withErrors: true)
      }
      _ = member.put("v2key", "v")
      let first = hash()
      #expect(first.hasSuffix(" 1\n"), "\(first)")
      #expect(hash() == first)
      #expect(
        Harness.run(
          ["ETCDCTL_API=3", "etcdctl", "--endpoints", member.clientURL, "put", "k", "v"],
          timeout: 8) == "OK\n")
      let second = hash()
      #expect(second != first && second.hasSuffix(" 2\n"), "\(second)")
    }
  }
}
