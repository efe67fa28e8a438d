import EtcdProto
import Foundation
import Net
import Synchronization
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
    let python = try Harness.python()
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

  @Test("defragment while writers put: every acknowledged put survives, also kill -9")
  func defragmentUnderLoad() throws {
    try Harness.withSingleMember { member, _ in
      let client = try V3Client(port: member.clientPort)
      defer { client.close() }
      // Some megabytes, so that each copy takes a while.
      let filler = String(repeating: "f", count: 20_000)
      for n in 0..<200 { _ = client.put("/fill/\(n)", filler) }
      let stop = Atomic<Bool>(false)
      let finished = Atomic<Int>(0)
      let acknowledged = Mutex<[String: Int64]>([:])
      let writers = 4
      let port = member.clientPort
      for writer in 0..<writers {
        Thread {
          defer { finished.add(1, ordering: .relaxed) }
          guard let own = try? V3Client(port: port) else { return }
          defer { own.close() }
          for n in 0..<1_000_000 where !stop.load(ordering: .relaxed) {
            let key = "/w/\(writer)-\(n)"
            if case .success(let response) = own.put(key, "v", seconds: 5) {
              acknowledged.withLock { $0[key] = response.header.revision }
            }
          }
        }.start()
      }
      var defragmented = 0
      // At least 10 defragmentations, and on until the writers have had
      // enough acknowledged to tell (a busy machine slows them): 30 s at most.
      var attempts = 0
      let deadline = Date().addingTimeInterval(30)
      while attempts < 10
        || (acknowledged.withLock { $0.count } < 200 && Date() < deadline)
      {
        attempts += 1
        let answer: Result<Etcdserverpb_DefragmentResponse, GRPCStatus> = client.call(
          "/etcdserverpb.Maintenance/Defragment", Etcdserverpb_DefragmentRequest())
        if case .success = answer { defragmented += 1 }
        #expect(try client.range(prefix: "/fill/", serializable: true).get().count == 200)
      }
      stop.store(true, ordering: .relaxed)
      #expect(Harness.waitFor(8) { finished.load(ordering: .relaxed) == writers })
      #expect(defragmented == attempts)
      let written = acknowledged.withLock { $0 }
      #expect(written.count > 50, "too few writes to tell anything: \(written.count)")
      func lost() throws -> [String] {
        let check = try V3Client(port: member.clientPort)
        defer { check.close() }
        let held = try check.range(prefix: "/w/", serializable: true).get().kvs
        let revisions = Dictionary(
          held.map { (String(decoding: $0.key, as: UTF8.self), $0.modRevision) },
          uniquingKeysWith: { first, _ in first })
        return written.filter { revisions[$0.key] != $0.value }.keys.sorted()
      }
      #expect(try lost() == [])
      member.crash()
      member.restart()
      try #require(Harness.waitFor(15) { member.isUp })
      #expect(try lost() == [])
    }
  }

  @Test("compaction removes rows in steps between requests; --physical answers once they are gone")
  func backgroundCompaction() throws {
    try Harness.withSingleMember { member, dir in
      let client = try V3Client(port: member.clientPort)
      defer { client.close() }
      // 30,000 rows over 100 keys: 30 steps of 1000 rows, 10 ms apart.
      let value = Data(repeating: 0x61, count: 100)
      for round in 0..<300 {
        var txn = Etcdserverpb_TxnRequest()
        txn.success = (0..<100).map { key in
          var op = Etcdserverpb_RequestOp()
          op.requestPut.key = Data("k\(key)".utf8)
          op.requestPut.value = value + Data("\(round)".utf8)
          return op
        }
        let answer: Result<Etcdserverpb_TxnResponse, GRPCStatus> = client.call(
          "/etcdserverpb.KV/Txn", txn)
        try #require((try? answer.get()) != nil, "txn \(round): \(answer)")
      }
      func ctl(_ arguments: String...) -> String {
        Harness.run(
          ["ETCDCTL_API=3", "etcdctl", "--endpoints", member.clientURL] + arguments, timeout: 20)
      }
      func snapshotSize(_ name: String) -> Int {
        _ = ctl("snapshot", "save", dir + "/" + name)
        let size = try? FileManager.default.attributesOfItem(atPath: dir + "/" + name)[.size]
        return (size as? Int) ?? 0
      }
      let before = snapshotSize("before.db")
      #expect(ctl("compaction", "--physical", "301") == "compacted revision 301\n")
      // Taken right after the answer: a physical compaction's rows are gone.
      let after = snapshotSize("after.db")
      #expect(before > 3_000_000 && after < before / 3, "\(before) -> \(after)")
      let latest = try client.range(prefix: "k", serializable: true).get()
      #expect(
        latest.count == 100 && latest.kvs.allSatisfy { $0.value.suffix(3) == Data("299".utf8) })
      #expect(latest.kvs.allSatisfy { $0.version == 300 })
    }
  }
}
