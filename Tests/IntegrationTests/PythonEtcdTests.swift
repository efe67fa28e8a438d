import Foundation
import Testing

/// python-etcd, the v2 Python client, against a real member. The checks live
/// in clients/python_etcd_check.py and pass against etcd 3.4.23 too.
@Suite("python-etcd against swetcd", .serialized)
struct PythonEtcdTests {
  @Test("reads, writes, TTLs, CAS, dirs, in-order keys, watches, errors, members and stats")
  func client() throws {
    let python = try Harness.python()
    let script = Harness.clientScript("python_etcd_check.py")
    try Harness.withSingleMember { member, _ in
      let output = Harness.run(
        [python, script, "127.0.0.1", "\(member.clientPort)"], timeout: 60, withErrors: true)
      #expect(output == "OK\n", "\(output)")
    }
  }
}
