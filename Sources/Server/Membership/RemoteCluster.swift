import Net

/// What a member joining with `--initial-cluster-state existing` learns
/// from the running cluster: its ID and membership, from a peer's
/// `GET /members`. Runs once at start-up, before the server's loop, so it
/// blocks.
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
        let clusterText = response.headers["X-Etcd-Cluster-ID"],
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

  /// A GET on a loop of its own, run until the answer (start-up has no
  /// running loop yet); nil on any failure.
  static func httpGet(_ address: SocketAddress, path: String, timeoutSeconds: Int)
    -> HTTPClient.Response?
  {
    guard let loop = try? EventLoop() else { return nil }
    var answer: HTTPClient.Response?
    HTTPClient.send(
      "GET", path, body: [], contentType: "application/json", to: address, on: loop,
      timeoutMs: UInt64(timeoutSeconds) * 1000
    ) { result in
      answer = try? result.get()
      loop.stop()
    }
    loop.run()
    loop.close()
    return answer
  }
}
