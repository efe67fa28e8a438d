import Foundation
import Testing

/// etcd3, the v3 gRPC Python client, against a real member. The checks live
/// in clients/etcd3_check.py and pass against etcd 3.4.23 too.
@Suite("etcd3 (Python) against swetcd", .serialized)
struct PythonEtcd3Tests {
  @Test("put, get, get_prefix, delete, transactions, members, member update and errors, status")
  func client() throws {
    let python = try Harness.python()
    let script = Harness.clientScript("etcd3_check.py")
    try Harness.withSingleMember { member, _ in
      let output = Harness.run(
        [python, script, "127.0.0.1", "\(member.clientPort)"], timeout: 60, withErrors: true)
      #expect(output == "OK\n", "\(output)")
    }
  }
}
