import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

@Suite("v2 long-poll fan-out", .serialized)
struct LongPollTests {
  /// Opens a loopback connection and sends `request`; reads time out after
  /// 10 s so nothing can hang.
  func send(_ request: String, port: Int, receiveBuffer: Int32? = nil) -> Int32? {
    guard let fd = Harness.connectLoopback(port: port, timeout: 10, receiveBuffer: receiveBuffer)
    else { return nil }
    let bytes = Array(request.utf8)
    guard write(fd, bytes, bytes.count) == bytes.count else {
      close(fd)
      return nil
    }
    return fd
  }

  func residentKiB(_ pid: pid_t) -> Int {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
  }

  @Test("5,000 concurrent ?wait=true requests are all answered by one write, in bounded memory")
  func fanOut() throws {
    let python = try Harness.python()
    try Harness.withSingleMember { member, _ in
      let output = Harness.run(
        [
          python, Harness.clientScript("fan_out.py"), "\(member.clientPort)", "\(member.pid)",
          "5000",
        ],
        timeout: 90, withErrors: true)
      let figures = output.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
      try #require(figures.count == 5, "fan_out.py: \(output)")
      let (opened, registered, answered) = (figures[0], figures[1], figures[2])
      let (idleKiB, waitingKiB) = (figures[3], figures[4])
      #expect(opened == 5000)
      #expect(registered == 1, "the member counted 5000 watchers")
      #expect(answered == 5000)
      // A waiter is a small record: the whole fan-out costs well under
      // 20 KiB per waiting request (connection buffers included).
      let perWaiter = (waitingKiB - idleKiB) * 1024 / 5000
      print(
        "long-poll fan-out: RSS idle \(idleKiB) KiB, with 5000 waiters \(waitingKiB) KiB, ~\(perWaiter) bytes per waiter"
      )
      #expect(perWaiter < 20 * 1024)
    }
  }

  @Test("a stream watcher that stops reading is dropped; the member stays up")
  func slowStreamWatcherIsDropped() throws {
    try Harness.withSingleMember { member, _ in
      func watchers() -> String {
        Harness.curl(member.clientURL + "/v2/stats/store")
      }
      guard
        let fd = send(
          "GET /v2/keys/slow?wait=true&stream=true HTTP/1.1\r\nHost: x\r\n\r\n",
          port: member.clientPort, receiveBuffer: 4096)
      else {
        Issue.record("cannot connect")
        return
      }
      defer { close(fd) }
      #expect(Harness.waitFor(5) { watchers().contains("\"watchers\":1") })
      // Each event carries the value twice (node and prevNode): 128 KiB.
      // The kernel's buffers hold a few MiB; 120 events are far beyond.
      let value = String(repeating: "x", count: 64 * 1024)
      var writes = 0
      while writes < 120 && !watchers().contains("\"watchers\":0") {
        _ = Harness.http("PUT", port: member.clientPort, "/v2/keys/slow", form: "value=" + value)
        writes += 1
      }
      #expect(Harness.waitFor(5) { watchers().contains("\"watchers\":0") }, "dropped")
      print("slow stream watcher dropped after \(writes) writes")
      #expect(member.put("after", "1").contains("\"value\":\"1\""))
      #expect(residentKiB(member.pid) < 200 * 1024)
    }
  }
}
