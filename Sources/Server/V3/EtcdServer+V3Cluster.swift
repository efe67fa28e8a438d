import EtcdProto
import Net
import Raft
import SwiftProtobuf

/// The Cluster service's changes: MemberAdd, MemberRemove, MemberUpdate,
/// MemberPromote. Each is checked as etcd 3.4 checks it before proposing
/// (its strict reconfiguration checks), goes through the log as a Raft conf
/// change, and is answered once applied with the member list after it.
extension EtcdServer {
  /// etcd 3.4 allows one learner at a time.
  static let maxLearners = 1
  /// etcd promotes a learner whose log matches at least this share of the
  /// leader's.
  static let learnerReadyShare = 0.9

  func registerClusterChanges(_ server: GRPCServer) {
    registerV3(
      server, "/etcdserverpb.Cluster/MemberAdd",
      .unary { [unowned self] call, bytes in
        guard let request: Etcdserverpb_MemberAddRequest = decode(call, bytes) else { return }
        memberAdd(call, request)
      })
    registerV3(
      server, "/etcdserverpb.Cluster/MemberRemove",
      .unary { [unowned self] call, bytes in
        guard let request: Etcdserverpb_MemberRemoveRequest = decode(call, bytes) else { return }
        // An unknown ID is refused when the change is applied, as in etcd.
        do throws(ReconfigurationRefusal) {
          try checkMayRemove(request.id)
        } catch {
          return fail(call, V3Error(error))
        }
        changeMembers(call, .confChangeRemoveNode, request.id, context: nil) {
          var response = Etcdserverpb_MemberRemoveResponse()
          response.header = $0
          response.members = $1
          return response
        }
      })
    registerV3(
      server, "/etcdserverpb.Cluster/MemberUpdate",
      .unary { [unowned self] call, bytes in
        guard let request: Etcdserverpb_MemberUpdateRequest = decode(call, bytes) else { return }
        // etcd 3.4 takes the URLs of an update as given, unchecked.
        let context = Swetcdpb_MemberContext(request.id, request.peerUrls)
        changeMembers(call, .confChangeUpdateNode, request.id, context: context) {
          var response = Etcdserverpb_MemberUpdateResponse()
          response.header = $0
          response.members = $1
          return response
        }
      })
    registerV3(
      server, "/etcdserverpb.Cluster/MemberPromote",
      .unary { [unowned self] call, bytes in
        guard let request: Etcdserverpb_MemberPromoteRequest = decode(call, bytes) else { return }
        let answer = { [weak self] (result: Result<Etcdserverpb_MemberPromoteResponse, V3Error>) in
          guard let self else { return }
          switch result {
          case .success(var response):
            response.header = clusterResponseHeader()
            reply(call, response)
          case .failure(let error):
            fail(call, error)
          }
        }
        guard isLeader else {
          return forwardToLeader(
            Self.promotePathPrefix + String(request.id), request,
            isAbandoned: { call.isFinished || call.isCancelled }, completion: answer)
        }
        promoteOnLeader(request.id, answer)
      })
  }

  private func memberAdd(_ call: GRPCServerCall, _ request: Etcdserverpb_MemberAddRequest) {
    let peerURLs: [String]
    do throws(MemberRequest.Invalid) {
      peerURLs = try MemberRequest.validate(request.peerUrls).sorted()
    } catch {
      return fail(call, .badMemberURLs)
    }
    // etcd refuses a second learner when the change is applied; refusing
    // it before proposing answers the same without a round through the log.
    if request.isLearner && members.learnerCount >= Self.maxLearners {
      return fail(call, .tooManyLearners)
    }
    do throws(ReconfigurationRefusal) {
      try checkMayAdd(learner: request.isLearner)
    } catch {
      return fail(call, V3Error(error))
    }
    let id = MemberID.member(
      peerURLs: peerURLs, clusterToken: config.initialClusterToken,
      addedAt: ServerClock.wallNanoseconds() / 1_000_000_000)
    let added = Member(id: id, name: "", peerURLs: peerURLs, isLearner: request.isLearner)
    let type: Raftpb_ConfChangeType =
      request.isLearner ? .confChangeAddLearnerNode : .confChangeAddNode
    changeMembers(call, type, id, context: .init(id, peerURLs)) {
      var response = Etcdserverpb_MemberAddResponse()
      response.header = $0
      response.member = added.v3
      response.members = $1
      return response
    }
  }

  /// Promotion is an AddNode on a learner, decided by the leader (a
  /// follower forwards it), which alone sees whether the learner's log is
  /// in sync. The answer's members are those after the change; its header
  /// is the answering member's to fill.
  func promoteOnLeader(
    _ id: UInt64,
    _ completion: @escaping (Result<Etcdserverpb_MemberPromoteResponse, V3Error>) -> Void
  ) {
    guard isLeader else { return completion(.failure(.notLeader)) }
    guard let target = members[id] else {
      return completion(.failure(V3Error(MembershipError.notFound)))
    }
    guard target.isLearner else { return completion(.failure(.notLearner)) }
    if let match = driver.node.match(of: id), let leaderMatch = driver.node.match(of: memberID),
      Double(match) < Double(leaderMatch) * Self.learnerReadyShare
    {
      return completion(.failure(.learnerNotReady))
    }
    do throws(ReconfigurationRefusal) {
      try checkMayPromote()
    } catch {
      return completion(.failure(V3Error(error)))
    }
    proposeConfChange(.confChangeAddNode, id, context: .init(id, target.peerURLs)) {
      [weak self] result in
      guard let self else { return }
      switch result {
      case .done:
        var response = Etcdserverpb_MemberPromoteResponse()
        response.members = members.all.map(\.v3)
        completion(.success(response))
      case .refused(let error): completion(.failure(V3Error(error)))
      case .failed(let reason): completion(.failure(V3Error(code: .unavailable, message: reason)))
      default: completion(.failure(.stopped))
      }
    }
  }

  /// Proposes the change and answers with `make(header, members)` once it
  /// is applied, or with etcd's error if it was refused or failed.
  private func changeMembers<Response: SwiftProtobuf.Message>(
    _ call: GRPCServerCall, _ type: Raftpb_ConfChangeType, _ id: UInt64,
    context: Swetcdpb_MemberContext?,
    _ make: @escaping (Etcdserverpb_ResponseHeader, [Etcdserverpb_Member]) -> Response
  ) {
    let change = proposeConfChange(type, id, context: context) { [weak self] result in
      guard let self else { return }
      switch result {
      case .done: reply(call, make(clusterResponseHeader(), members.all.map(\.v3)))
      case .refused(let error): fail(call, V3Error(error))
      case .failed(let reason): fail(call, V3Error(code: .unavailable, message: reason))
      case .timedOut(let timeout): fail(call, V3Error(timeout))
      default: fail(call, .stopped)
      }
    }
    expireAtDeadline(call, proposal: change)
  }
}
