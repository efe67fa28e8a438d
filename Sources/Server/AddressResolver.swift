import Net

#if canImport(Glibc)
  import Glibc
#endif

/// Turns a URL's host into an address to bind or dial. Numeric hosts pass
/// through; names are looked up once at start-up (getaddrinfo, which may
/// block, so never on a running loop).
enum AddressResolver {
  static func resolve(_ url: EndpointURL) throws -> SocketAddress {
    if let numeric = try? SocketAddress(host: url.host, port: url.port) { return numeric }
    var hints = addrinfo()
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var result: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(url.host, nil, &hints, &result) == 0, let first = result else {
      throw ResolveError(host: url.host)
    }
    defer { freeaddrinfo(result) }
    // Prefer IPv4 for names like localhost, as Go's resolver does for etcd.
    var chosen = first
    var cursor: UnsafeMutablePointer<addrinfo>? = first
    while let info = cursor {
      if info.pointee.ai_family == AF_INET {
        chosen = info
        break
      }
      cursor = info.pointee.ai_next
    }
    var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
    guard
      getnameinfo(
        chosen.pointee.ai_addr, chosen.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil,
        0, NI_NUMERICHOST) == 0
    else { throw ResolveError(host: url.host) }
    let host = String(
      decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return try SocketAddress(host: host, port: url.port)
  }

  struct ResolveError: Error, CustomStringConvertible {
    var host: String
    var description: String { "cannot resolve host \"\(host)\"" }
  }

  /// Opens a listener on `url` with `open`; a failure names the address
  /// as etcd's does ("listen tcp 127.0.0.1:2380: bind: address already in
  /// use"), so an operator sees which of several URLs is taken.
  static func listen<Listener>(
    on url: EndpointURL, _ open: (SocketAddress) throws -> Listener
  ) throws -> Listener {
    let address = try resolve(url)
    do {
      return try open(address)
    } catch {
      throw ListenError(address: "\(address)", cause: (error as? NetError)?.message ?? "\(error)")
    }
  }

  struct ListenError: Error, CustomStringConvertible {
    var address: String
    var cause: String
    var description: String { "listen tcp \(address): bind: \(cause)" }
  }
}
