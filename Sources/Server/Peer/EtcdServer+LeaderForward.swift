import Net
import SwiftProtobuf

/// What a follower cannot answer itself goes to the leader over the peer
/// port, as etcd 3.4 forwards it: lease keepalives and TimeToLive (only the
/// leader's clock knows when a lease expires) and learner promotions (only
/// the leader sees the learner's log).
///
/// The exchange is a POST with a protobuf body. The leader answers 200 with
/// a protobuf body, or an error status carrying the gRPC code in
/// `forwardedCodeHeader` and etcd's message as the body. Like etcd, the
/// follower retries for the request timeout while the leader cannot be
/// reached or is no longer the leader, and gives up with "no leader" if it
/// was waiting for an election then, "request timed out" otherwise.
extension EtcdServer {
  static let leasesPath = "/leases"
  static let leaseTimeToLivePath = "/leases/internal"
  static let promotePathPrefix = "/members/promote/"
  static let forwardedCodeHeader = "X-Etcd-Grpc-Code"
  /// Pause between attempts, so a refused connection is not retried in a
  /// tight loop.
  static let forwardRetryMs: UInt64 = 100

  /// Sends `request` to the leader's `path` and hands the decoded answer
  /// (or etcd's error) to `completion`, once, on the loop. `isAbandoned`
  /// stops retrying when the client has gone.
  func forwardToLeader<Response: SwiftProtobuf.Message>(
    _ path: String, _ request: some SwiftProtobuf.Message,
    isAbandoned: @escaping () -> Bool = { false },
    completion: @escaping (Result<Response, V3Error>) -> Void
  ) {
    let body: [UInt8] = (try? request.serializedBytes()) ?? []
    let deadline = ServerClock.monotonicNanoseconds() + Int64(Self.requestTimeoutMs) * 1_000_000
    forwardAttempt(path, body, deadline: deadline, attempt: 0, isAbandoned: isAbandoned) {
      completion($0.flatMap { bytes in V3Error.decode(bytes) as Result<Response, V3Error> })
    }
  }

  private func forwardAttempt(
    _ path: String, _ body: [UInt8], deadline: Int64, attempt: Int,
    isAbandoned: @escaping () -> Bool,
    completion: @escaping (Result<[UInt8], V3Error>) -> Void
  ) {
    let remainingMs = (deadline - ServerClock.monotonicNanoseconds()) / 1_000_000
    let leaderAddress = leaderPeerAddress(attempt: attempt)
    guard !isAbandoned() else { return completion(.failure(.canceled)) }
    guard remainingMs > 0 else {
      return completion(.failure(leaderAddress == nil ? .noLeader : .timeout))
    }
    let retry = { [weak self] in
      guard let self else { return completion(.failure(.stopped)) }
      LoopTimer.after(Self.forwardRetryMs, on: loop) { [weak self] in
        guard let self else { return completion(.failure(.stopped)) }
        forwardAttempt(
          path, body, deadline: deadline, attempt: attempt + 1, isAbandoned: isAbandoned,
          completion: completion)
      }
    }
    guard let leaderAddress else { return retry() }
    HTTPClient.send(
      "POST", path, body: body, contentType: "application/protobuf", to: leaderAddress,
      on: loop, timeoutMs: UInt64(remainingMs)
    ) { result in
      switch result {
      case .success(let response) where response.status == 200:
        completion(.success(response.body))
      case .success(let response):
        guard let codeText = response.headers[Self.forwardedCodeHeader],
          let code = Int(codeText).flatMap(GRPCStatusCode.init(rawValue:))
        else { return retry() }
        let error = V3Error(code: code, message: String(decoding: response.body, as: UTF8.self))
        // Leadership moved on since we looked: ask the new leader.
        if error == .notLeader { return retry() }
        completion(.failure(error))
      case .failure:
        retry()
      }
    }
  }

  /// The leader's peer address, nil while no leader is known; successive
  /// attempts go round its peer URLs.
  private func leaderPeerAddress(attempt: Int) -> SocketAddress? {
    guard leaderID != 0, leaderID != memberID, let leader = members[leaderID],
      !leader.peerURLs.isEmpty
    else { return nil }
    let url = leader.peerURLs[attempt % leader.peerURLs.count]
    return EndpointURL.parse(url).flatMap { try? AddressResolver.resolve($0) }
  }

  /// The leader's side: a protobuf answer, or etcd's error for the
  /// follower to hand on.
  func respondForwarded(_ responder: HTTPResponder, _ result: Result<some Message, V3Error>) {
    var headers = HTTPHeaders()
    switch result {
    case .success(let response):
      headers.set("Content-Type", "application/protobuf")
      responder.respond(
        status: 200, headers: headers, body: (try? response.serializedBytes()) ?? [])
    case .failure(let error):
      headers.set("Content-Type", "text/plain; charset=utf-8")
      headers.set(Self.forwardedCodeHeader, String(error.code.rawValue))
      let status = error.code == .notFound ? 404 : error == .notLeader ? 409 : 412
      responder.respond(status: status, headers: headers, body: Array(error.message.utf8))
    }
  }
}
