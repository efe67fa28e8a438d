import Net

#if canImport(Glibc)
  import Glibc
#endif

/// What a member joining with `--initial-cluster-state existing` learns
/// from the running cluster: its ID and membership, from a peer's
/// `GET /members`. Runs once at start-up, before the loop, so it blocks.
struct RemoteCluster: Equatable {
  var clusterID: UInt64
  var members: [Member]

  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  /// Asks each URL in turn; the first good answer wins.
  static func fetch(from peerURLs: [EndpointURL], timeoutSeconds: Int = 2) throws(Failure)
    -> RemoteCluster
  {
    for url in peerURLs {
      guard let address = try? AddressResolver.resolve(url),
        let response = httpGet(address, path: "/members", timeoutSeconds: timeoutSeconds),
        response.status == 200,
        let clusterText = response.headers["x-etcd-cluster-id"],
        let clusterID = UInt64(clusterText, radix: 16),
        let members = try? decodeMembers(response.body)
      else { continue }
      return RemoteCluster(clusterID: clusterID, members: members)
    }
    throw Failure(description: "could not retrieve cluster information from the given URLs")
  }

  /// Matches the local `--initial-cluster` against the running cluster, as
  /// etcd does, and returns the ID the cluster gave the member `name`.
  func assignID(local: ClusterMembers, name: String) throws(Failure) -> UInt64 {
    guard local.all.count == members.count else {
      throw Failure(description: "member count is unequal")
    }
    var myID: UInt64?
    for member in local.all {
      guard let match = members.first(where: { $0.peerURLs.sorted() == member.peerURLs }) else {
        throw Failure(
          description:
            "unmatched member while checking PeerURLs (\(member.peerURLs.joined(separator: ",")))")
      }
      if member.name == name { myID = match.id }
    }
    guard let myID, let me = members.first(where: { $0.id == myID }) else {
      throw Failure(description: "couldn't find local name \"\(name)\" in the cluster")
    }
    guard me.name.isEmpty else {
      throw Failure(description: "member \(MemberID.format(myID)) has already been bootstrapped")
    }
    return myID
  }

  /// The peer `/members` body: a JSON array of members, IDs as numbers.
  static func decodeMembers(_ body: [UInt8]) throws -> [Member] {
    guard case .array(let items) = try JSONValue.parse(body) else { throw Failure(description: "") }
    return try items.map { item in
      guard case .object(let fields) = item, case .number(let idText)? = fields["id"],
        let id = UInt64(idText)
      else { throw Failure(description: "a member without an id") }
      func strings(_ key: String) -> [String] {
        guard case .array(let values)? = fields[key] else { return [] }
        return values.compactMap { if case .string(let text) = $0 { text } else { nil } }
      }
      var name = ""
      if case .string(let text)? = fields["name"] { name = text }
      var learner = false
      if case .bool(let flag)? = fields["isLearner"] { learner = flag }
      return Member(
        id: id, name: name, peerURLs: strings("peerURLs").sorted(),
        clientURLs: strings("clientURLs"), isLearner: learner)
    }
  }

  struct Response {
    var status: Int
    /// Lower-cased names.
    var headers: [String: String]
    var body: [UInt8]
  }

  /// A blocking HTTP/1.1 GET with `Connection: close`, bounded in time and
  /// size; nil on any failure.
  static func httpGet(_ address: SocketAddress, path: String, timeoutSeconds: Int) -> Response? {
    var hints = addrinfo()
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var info: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(address.host, String(address.port), &hints, &info) == 0, let first = info
    else { return nil }
    defer { freeaddrinfo(info) }
    let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    // Linux applies the send timeout to connect as well.
    var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
    let size = socklen_t(MemoryLayout<timeval>.size)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, size)
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, size)
    guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else { return nil }
    let request = Array(
      "GET \(path) HTTP/1.1\r\nHost: \(address)\r\nConnection: close\r\n\r\n".utf8)
    guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else {
      return nil
    }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 16 * 1024)
    while received.count < 16 << 20 {
      let n = recv(fd, &buffer, buffer.count, 0)
      if n == 0 { break }
      guard n > 0 else { return nil }
      received += buffer[..<n]
    }
    return parse(received)
  }

  /// Splits a whole `Connection: close` response; the body runs to EOF.
  static func parse(_ bytes: [UInt8]) -> Response? {
    let separator: [UInt8] = [13, 10, 13, 10]
    guard let end = bytes.firstRange(of: separator) else { return nil }
    let head = String(decoding: bytes[..<end.lowerBound], as: UTF8.self)
    var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
    guard !lines.isEmpty else { return nil }
    let statusParts = lines.removeFirst().split(separator: " ")
    guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
    var headers: [String: String] = [:]
    for line in lines {
      guard let colon = line.firstIndex(of: ":") else { continue }
      headers[line[..<colon].lowercased()] = String(
        line[line.index(after: colon)...].trimmingSpaces())
    }
    return Response(status: status, headers: headers, body: Array(bytes[end.upperBound...]))
  }
}
