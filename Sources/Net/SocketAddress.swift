import CLibUV

#if canImport(Glibc)
  import Glibc
#endif

/// A numeric IPv4 or IPv6 address and port.
public struct SocketAddress: Sendable, Equatable, CustomStringConvertible {
  public let host: String
  public let port: Int
  public var isIPv6: Bool { host.contains(":") }

  /// `host` is numeric ("127.0.0.1", "::1", "[::1]"); port 0 asks the kernel
  /// for a free one when binding.
  public init(host: String, port: Int) throws(NetError) {
    var bare = host
    if bare.hasPrefix("["), bare.hasSuffix("]") { bare = String(bare.dropFirst().dropLast()) }
    guard (0...65535).contains(port), Self.parse(bare, port: port) != nil else {
      throw .invalidAddress(host)
    }
    self.host = bare
    self.port = port
  }

  /// "host:port", with IPv6 hosts bracketed.
  public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

  /// Calls `body` with the C form of the address.
  func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>) -> R) -> R {
    var storage = Self.parse(host, port: port)!
    return withUnsafePointer(to: &storage) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1, body)
    }
  }

  private static func parse(_ host: String, port: Int) -> sockaddr_storage? {
    var storage = sockaddr_storage()
    let rc = withUnsafeMutablePointer(to: &storage) { pointer in
      if host.contains(":") {
        pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
          uv_ip6_addr(host, Int32(port), $0)
        }
      } else {
        pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
          uv_ip4_addr(host, Int32(port), $0)
        }
      }
    }
    return rc == 0 ? storage : nil
  }

  /// Reads an address filled in by getsockname/getpeername.
  init?(_ storage: sockaddr_storage) {
    var storage = storage
    var name = [CChar](repeating: 0, count: 64)
    let parsed: (host: String, port: Int)? = withUnsafePointer(to: &storage) { pointer in
      let family = Int32(pointer.pointee.ss_family)
      if family == AF_INET6 {
        return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
          guard uv_ip6_name(address, &name, name.count) == 0 else { return nil }
          return (Self.string(name), Int(UInt16(bigEndian: address.pointee.sin6_port)))
        }
      }
      if family == AF_INET {
        return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
          guard uv_ip4_name(address, &name, name.count) == 0 else { return nil }
          return (Self.string(name), Int(UInt16(bigEndian: address.pointee.sin_port)))
        }
      }
      return nil
    }
    guard let parsed else { return nil }
    host = parsed.host
    port = parsed.port
  }

  private static func string(_ cString: [CChar]) -> String {
    String(decoding: cString.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }
}
