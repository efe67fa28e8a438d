import EtcdProto
import Net
import Raft
import SwiftProtobuf
import V2Store

/// `/v2/members`: list, add, remove and update members, answered as etcd
/// 3.4 answers them. Changes go through the log as Raft conf changes and
/// are answered once applied.
extension EtcdServer {
  func handleV2Members(_ request: HTTPRequest, _ responder: HTTPResponder) {
    // etcd allows no HEAD here.
    let method = request.method
    guard ["GET", "POST", "DELETE", "PUT"].contains(method) else {
      var headers = HTTPHeaders()
      headers.set("Allow", "GET,POST,DELETE,PUT")
      return respondPlain(responder, 405, "Method Not Allowed\n", headers: headers)
    }
    if method != "GET" {
      // etcd checks for root access before a change, reading its auth flag
      // from the v2 store (visible in the store's failed-get counter).
      _ = try? v2Store.get(
        "/2/enabled", recursive: false,
        now: StoreTime(nanosecondsSinceEpoch: ServerClock.wallNanoseconds()))
    }
    var tail = request.path.dropFirst("/v2/members".count)
    if tail.hasPrefix("/") { tail = tail.dropFirst() }
    switch method {
    case "GET":
      switch tail {
      // Go's json.Encoder ends what it writes with a newline.
      case "": respondMembersJSON(responder, 200, members.v2JSON + "\n")
      case "leader":
        guard let leader = members[leaderID] else {
          return respondMembersError(responder, 503, "During election")
        }
        respondMembersJSON(responder, 200, leader.v2JSON + "\n")
      default: respondMembersError(responder, 404, "Not found")
      }
    case "POST":
      guard let body = memberRequest(request, responder) else { return }
      addMember(peerURLs: body.peerURLs, responder)
    default:
      guard !tail.isEmpty else {
        var headers = HTTPHeaders()
        headers.set("X-Etcd-Cluster-Id", MemberID.format(clusterID))
        return respondPlain(responder, 405, "Method Not Allowed\n", headers: headers)
      }
      guard let id = UInt64(tail, radix: 16) else {
        return respondMembersError(responder, 404, "No such member: \(tail)")
      }
      if method == "DELETE" {
        removeMember(id, responder)
      } else if let body = memberRequest(request, responder) {
        updateMember(id, peerURLs: body.peerURLs, responder)
      }
    }
  }

  /// The JSON body of a POST or PUT, or nil after answering its error.
  private func memberRequest(_ request: HTTPRequest, _ responder: HTTPResponder) -> MemberRequest? {
    let contentType = request.headers["Content-Type"] ?? ""
    let mediaType = contentType.split(separator: ";", maxSplits: 1).first ?? ""
    guard mediaType.trimmingSpaces().lowercased() == "application/json" else {
      respondMembersError(
        responder, 415, "Bad Content-Type \(mediaType.trimmingSpaces()), accept application/json")
      return nil
    }
    do {
      return try MemberRequest.decode(request.body)
    } catch {
      respondMembersError(responder, 400, error.message)
      return nil
    }
  }

  private func addMember(peerURLs: [String], _ responder: HTTPResponder) {
    let id = MemberID.member(
      peerURLs: peerURLs, clusterToken: config.initialClusterToken,
      addedAt: ServerClock.wallNanoseconds() / 1_000_000_000)
    let member = Member(id: id, name: "", peerURLs: peerURLs)
    // etcd's strict reconfiguration check, answered as etcd's v2 API
    // answers its errors. Whether the member may be added is decided when
    // the change is applied, as in etcd.
    guard (try? checkMayAdd(learner: false)) != nil else {
      return respondMembersError(responder, 500, "Internal Server Error")
    }
    proposeConfChange(.confChangeAddNode, id, context: .init(id, peerURLs)) { [weak self] result in
      guard let self else { return }
      switch result {
      case .done: respondMembersJSON(responder, 201, member.v2JSON)
      // etcd's add handler names only these two; the rest is a 500.
      case .refused(let error) where error == .idExists || error == .peerURLExists:
        respondMembershipError(responder, error, id: id)
      default: respondMembersError(responder, 500, "Internal Server Error")
      }
    }
  }

  /// An unknown or removed ID is refused when the change is applied, as
  /// etcd refuses it (after a round through the log).
  private func removeMember(_ id: UInt64, _ responder: HTTPResponder) {
    guard (try? checkMayRemove(id)) != nil else {
      return respondMembersError(responder, 500, "Internal Server Error")
    }
    proposeConfChange(.confChangeRemoveNode, id, context: nil) { [weak self] result in
      self?.respondMemberChanged(responder, result, id: id, named: [.idRemoved, .notFound])
    }
  }

  private func updateMember(_ id: UInt64, peerURLs: [String], _ responder: HTTPResponder) {
    proposeConfChange(.confChangeUpdateNode, id, context: .init(id, peerURLs)) {
      [weak self] result in
      self?.respondMemberChanged(responder, result, id: id, named: [.peerURLExists, .notFound])
    }
  }

  /// 204, or the refusal if etcd's handler for the change names it (each
  /// names its own few); any other failure is etcd's 500.
  private func respondMemberChanged(
    _ responder: HTTPResponder, _ result: ApplyResult, id: UInt64, named: [MembershipError]
  ) {
    switch result {
    case .done:
      var headers = HTTPHeaders()
      headers.set("X-Etcd-Cluster-Id", MemberID.format(clusterID))
      responder.respond(status: 204, headers: headers)
    case .refused(let error) where named.contains(error):
      respondMembershipError(responder, error, id: id)
    default:
      respondMembersError(responder, 500, "Internal Server Error")
    }
  }

  /// Proposes a membership change; `completion` gets the apply result.
  /// Proposes a membership change; its waiter's ID.
  @discardableResult
  func proposeConfChange(
    _ type: Raftpb_ConfChangeType, _ id: UInt64, context: Swetcdpb_MemberContext?,
    completion: @escaping (ApplyResult) -> Void
  ) -> UInt64 {
    let changeID = waiters.register(
      timeoutMs: Self.requestTimeoutMs, nowMs: loop.nowMs, completion)
    var change = Raftpb_ConfChange()
    change.id = changeID
    change.type = type
    change.nodeID = id
    if let context { change.context = (try? context.serializedBytes()) ?? .init() }
    submit(changeID) { [unowned self] () throws(RaftError) in
      try driver.proposeConfChange(change)
    }
    return changeID
  }

  private func respondMembershipError(
    _ responder: HTTPResponder, _ error: MembershipError, id: UInt64
  ) {
    switch error {
    case .idExists: respondMembersError(responder, 409, "membership: ID exists")
    case .peerURLExists: respondMembersError(responder, 409, "membership: peerURL exists")
    case .notFound: respondMembersError(responder, 404, "No such member: \(MemberID.format(id))")
    case .idRemoved:
      respondMembersError(responder, 410, "Member permanently removed: \(MemberID.format(id))")
    }
  }

  private func respondMembersJSON(_ responder: HTTPResponder, _ status: Int, _ body: String) {
    var headers = HTTPHeaders()
    headers.set("X-Etcd-Cluster-Id", MemberID.format(clusterID))
    headers.set("Content-Type", "application/json")
    responder.respond(status: status, headers: headers, body: Array(body.utf8))
  }

  private func respondMembersError(_ responder: HTTPResponder, _ status: Int, _ message: String) {
    respondMembersJSON(responder, status, "{\"message\":" + V2JSON.quoted(message) + "}")
  }

  func respondPlain(
    _ responder: HTTPResponder, _ status: Int, _ text: String, headers: HTTPHeaders = [:]
  ) {
    var headers = headers
    headers.set("Content-Type", "text/plain; charset=utf-8")
    headers.set("X-Content-Type-Options", "nosniff")
    responder.respond(status: status, headers: headers, body: Array(text.utf8))
  }
}

extension Swetcdpb_MemberContext {
  init(_ id: UInt64, _ peerURLs: [String]) {
    self.init()
    self.id = id
    peerUrls = peerURLs
  }
}
