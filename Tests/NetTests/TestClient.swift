import Foundation

#if canImport(Glibc)
  import Glibc
#endif

struct SocketError: Error {
  let call: String
  let code: Int32
}

/// A parsed response as the test client saw it.
struct TestResponse {
  var status: Int
  var headers: [String: String]
  var body: [UInt8]
  var chunks: [[UInt8]]
  var text: String { String(decoding: body, as: UTF8.self) }
}

/// A blocking POSIX socket client; every receive times out, so no test hangs.
final class TestClient {
  let fd: Int32
  private var buffer: [UInt8] = []

  init(host: String = "127.0.0.1", port: Int, receiveTimeoutMs: Int = 3000) throws {
    let isIPv6 = host.contains(":")
    fd = socket(isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw SocketError(call: "socket", code: errno) }
    var timeout = timeval(
      tv_sec: receiveTimeoutMs / 1000, tv_usec: (receiveTimeoutMs % 1000) * 1000)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let rc: Int32
    if isIPv6 {
      var address = sockaddr_in6()
      address.sin6_family = sa_family_t(AF_INET6)
      address.sin6_port = UInt16(port).bigEndian
      inet_pton(AF_INET6, host, &address.sin6_addr)
      rc = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
        }
      }
    } else {
      var address = sockaddr_in()
      address.sin_family = sa_family_t(AF_INET)
      address.sin_port = UInt16(port).bigEndian
      inet_pton(AF_INET, host, &address.sin_addr)
      rc = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
      }
    }
    guard rc == 0 else {
      let code = errno
      Glibc.close(fd)
      throw SocketError(call: "connect", code: code)
    }
  }

  deinit { Glibc.close(fd) }

  func send(_ text: String) throws { try send(Array(text.utf8)) }

  func send(_ bytes: [UInt8]) throws {
    var offset = 0
    while offset < bytes.count {
      let sent = bytes[offset...].withUnsafeBytes {
        Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
      }
      guard sent > 0 else { throw SocketError(call: "send", code: errno) }
      offset += sent
    }
  }

  /// Sends our FIN; the server sees EOF while we can still read.
  func closeWrite() { shutdown(fd, Int32(SHUT_WR)) }

  /// One recv: bytes, [] at EOF, nil on timeout or error.
  func receiveOnce() -> [UInt8]? {
    var chunk = [UInt8](repeating: 0, count: 65536)
    let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    return count < 0 ? nil : Array(chunk[0..<count])
  }

  /// True when the server closed the connection (EOF or reset) within the timeout.
  func waitForClose() -> Bool {
    for _ in 0..<10_000 {
      guard let bytes = receiveOnce() else { return errno == ECONNRESET }
      if bytes.isEmpty { return true }
      buffer += bytes
    }
    return false
  }

  private func fill(_ minimum: Int) -> Bool {
    while buffer.count < minimum {
      guard let bytes = receiveOnce(), !bytes.isEmpty else { return false }
      buffer += bytes
    }
    return true
  }

  private func line() -> String? {
    while true {
      if let end = buffer.firstIndex(of: 10) {
        let text = String(decoding: buffer[..<end], as: UTF8.self)
        buffer.removeFirst(end + 1)
        return text.hasSuffix("\r") ? String(text.dropLast()) : text
      }
      guard fill(buffer.count + 1) else { return nil }
    }
  }

  /// Reads one response (Content-Length, chunked, or until close).
  func readResponse(headRequest: Bool = false) -> TestResponse? {
    guard let statusLine = line() else { return nil }
    let parts = statusLine.split(separator: " ")
    guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
    var response = TestResponse(status: status, headers: [:], body: [], chunks: [])
    while let field = line(), !field.isEmpty {
      guard let colon = field.firstIndex(of: ":") else { return nil }
      let name = field[..<colon].lowercased()
      response.headers[name] = field[field.index(after: colon)...].trimmingCharacters(
        in: .whitespaces)
    }
    if headRequest || status == 204 || status == 304 || (100..<200).contains(status) {
      return response
    }
    if let length = response.headers["content-length"].flatMap(Int.init) {
      guard fill(length) else { return nil }
      response.body = Array(buffer[0..<length])
      buffer.removeFirst(length)
    } else if response.headers["transfer-encoding"] == "chunked" {
      while let sizeLine = line(), let size = Int(sizeLine, radix: 16) {
        guard fill(size + 2) else { return nil }
        if size == 0 {
          buffer.removeFirst(2)
          return response
        }
        response.chunks.append(Array(buffer[0..<size]))
        response.body += buffer[0..<size]
        buffer.removeFirst(size + 2)
      }
      return nil
    } else {
      _ = waitForClose()
      response.body = buffer
      buffer = []
    }
    return response
  }
}

/// Runs a program to completion and returns its exit status and stdout.
/// posix_spawn rather than Foundation.Process, whose bookkeeping leaks under LeakSanitizer.
func runProcess(_ path: String, _ arguments: [String], stdin: String? = nil) throws -> (
  Int32, String
) {
  var input: [Int32] = [0, 0]
  var output: [Int32] = [0, 0]
  guard pipe(&input) == 0, pipe(&output) == 0 else { throw SocketError(call: "pipe", code: errno) }
  var actions = posix_spawn_file_actions_t()
  posix_spawn_file_actions_init(&actions)
  defer { posix_spawn_file_actions_destroy(&actions) }
  posix_spawn_file_actions_adddup2(&actions, input[0], 0)
  posix_spawn_file_actions_adddup2(&actions, output[1], 1)
  for fd in input + output { posix_spawn_file_actions_addclose(&actions, fd) }
  let argv = ([path] + arguments).map { strdup($0) } + [nil]
  defer { for pointer in argv { free(pointer) } }
  var pid: pid_t = 0
  let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
  Glibc.close(input[0])
  Glibc.close(output[1])
  defer { Glibc.close(output[0]) }
  guard rc == 0 else {
    Glibc.close(input[1])
    throw SocketError(call: "posix_spawn", code: rc)
  }
  if let stdin {
    _ = Array(stdin.utf8).withUnsafeBytes { write(input[1], $0.baseAddress, $0.count) }
  }
  Glibc.close(input[1])
  var collected: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 4096)
  while true {
    let count = chunk.withUnsafeMutableBytes { read(output[0], $0.baseAddress, $0.count) }
    if count <= 0 { break }
    collected += chunk[0..<count]
  }
  var status: Int32 = 0
  waitpid(pid, &status, 0)
  return ((status >> 8) & 0xFF, String(decoding: collected, as: UTF8.self))
}
