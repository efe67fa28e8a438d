import Foundation
import Testing

/// etcd's /v3 JSON gateway: etcd3gw, its Python client, against etcd 3.4.23
/// and swetcd, and the gateway's own answers side by side.
@Suite("v3 JSON gateway against etcd 3.4.23", .serialized)
struct V3GatewayTests {
  @Test("etcd3gw: keys, transactions, leases, a watch, locks, members and status, errors")
  func etcd3gw() throws {
    let python = try Harness.python()
    let script = Harness.clientScript("etcd3gw_check.py")
    try Harness.withReferenceAndMember { reference, member in
      for (name, port) in [("etcd", reference.clientPort), ("swetcd", member.clientPort)] {
        let output = Harness.run(
          [python, script, "127.0.0.1", "\(port)"], timeout: 90, withErrors: true)
        #expect(output == "OK\n", "\(name): \(output)")
      }
    }
  }

  @Test(
    "Lock and Election: waiters, a waiter that gives up, leaders, proclaims, observers, refusals")
  func lockAndElection() throws {
    let python = try Harness.python()
    let script = Harness.clientScript("lock_election.py")
    try Harness.withReferenceAndMember { reference, member in
      let transcripts = [reference.clientPort, member.clientPort].map { port in
        Harness.run([python, script, "127.0.0.1", "\(port)"], timeout: 60, withErrors: true)
      }
      for expected in [
        "lock two: 200 rev=4 key=l/two", "lock keys after a waiter gave up: 1",
        "campaign two: 200", "proclaim by the old leader: 500 election: not leader (code 2)",
        "observed e/two:v2",
      ] {
        #expect(transcripts[0].contains(expected), "etcd: \(transcripts[0])")
      }
      #expect(transcripts[1] == transcripts[0], "\(diff(transcripts[0], transcripts[1]))")
    }
  }

  @Test("refusals: statuses and bodies as etcd's gateway answers them")
  func refusals() throws {
    let requests: [(method: String, path: String, body: String)] = [
      ("POST", "/v3/kv/range", #"{"key":""}"#),
      ("POST", "/v3beta/kv/range", ""),
      ("POST", "/v3/kv/range", #"{"key":"YQ==","revision":"1000"}"#),
      ("POST", "/v3/kv/compaction", #"{"revision":"1000"}"#),
      ("POST", "/v3/lease/revoke", #"{"ID":"5"}"#),
      ("POST", "/v3/kv/lease/revoke", #"{"ID":"5"}"#),
      ("POST", "/v3/maintenance/transfer-leadership", "{}"),
      ("POST", "/v3/kv/put", #"{"key":"YQ==","lease":"77"}"#),
      (
        "POST", "/v3/kv/txn",
        #"{"success":[{"request_put":{"key":"YQ=="}},{"request_put":{"key":"YQ=="}}]}"#
      ),
      ("POST", "/v3/kv/nope", "{}"),
      ("POST", "/v3alpha/kv/range", "{}"),
      ("GET", "/v3/kv/range", ""),
      ("PUT", "/v3/kv/put", "{}"),
    ]
    try Harness.withReferenceAndMember { reference, member in
      for request in requests {
        let answers = [reference.clientPort, member.clientPort].map { port in
          Harness.http(request.method, port: port, request.path, form: request.body)
        }
        let shown = answers.map { "\($0?.status ?? 0) \($0?.body ?? "no answer")" }
        #expect(shown[1] == shown[0], "\(request.method) \(request.path) \(request.body)")
      }
      // JSON that does not parse: Go's decoder words its error its own way,
      // but the status and code are grpc-gateway's, which depend on how the
      // method streams.
      for path in ["/v3/kv/range", "/v3/maintenance/snapshot", "/v3/watch", "/v3/lease/keepalive"] {
        let answers = [reference.clientPort, member.clientPort].map { port in
          Harness.http("POST", port: port, path, form: "{bad")
        }
        let shown = answers.map { "\($0?.status ?? 0) \($0?.json?["code"] ?? "none")" }
        #expect(shown[1] == shown[0], "\(path)")
      }
    }
  }
}
