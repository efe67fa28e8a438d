import EtcdProto
import MVCC
import Net

/// Maintenance.Alarm and the space quota's alarm. Every alarm request,
/// a list included, goes through the log as in etcd, so all members hold
/// the same alarms; a NOSPACE alarm raised by any member stops writes on
/// all of them until it is disarmed.
extension EtcdServer {
  func registerAlarm(_ server: GRPCServer) {
    registerV3(
      server, "/etcdserverpb.Maintenance/Alarm",
      .unary { [unowned self] call, bytes in
        guard let request: Etcdserverpb_AlarmRequest = decode(call, bytes) else { return }
        var proposal = Swetcdpb_InternalRequest()
        proposal.alarm = request
        let id = propose(proposal, timeoutMs: Self.requestTimeoutMs) { [weak self] result in
          guard let self else { return }
          switch result {
          // etcd answers alarms without a response header.
          case .v3(.success(let answer)): reply(call, answer)
          case .v3(.failure(let error)): fail(call, error)
          case .failed(let reason): fail(call, V3Error(code: .unavailable, message: reason))
          case .timedOut(let timeout): fail(call, V3Error(timeout))
          default: fail(call, .stopped)
          }
        }
        expireAtDeadline(call, proposal: id)
      })
  }

  func applyAlarm(_ request: Etcdserverpb_AlarmRequest, _ mvcc: MVCCStore) throws(V3Error)
    -> Etcdserverpb_AlarmResponse
  {
    var response = Etcdserverpb_AlarmResponse()
    switch request.action {
    case .get:
      response.alarms = alarms.get(request.alarm)
    case .activate:
      let wasActive = alarms.isActive(request.alarm)
      guard let raised = try alarms.activate(request.memberID, request.alarm, mvcc) else { break }
      response.alarms = [raised]
      if !wasActive {
        logger.warning(
          "alarm raised",
          metadata: [
            "alarm": "\(request.alarm.etcdName)", "from": "\(MemberID.format(request.memberID))",
          ])
      }
    case .deactivate:
      guard let cleared = try alarms.deactivate(request.memberID, request.alarm, mvcc) else {
        break
      }
      response.alarms = [cleared]
      if !alarms.isActive(request.alarm) {
        logger.warning(
          "alarm disarmed",
          metadata: [
            "alarm": "\(request.alarm.etcdName)", "from": "\(MemberID.format(request.memberID))",
          ])
      }
    case .UNRECOGNIZED:
      break
    }
    return response
  }

  /// Proposes this member's NOSPACE alarm; `then` runs once it is applied
  /// or has failed (the client's answer is NOSPACE either way), or not at
  /// all if the server is gone.
  func raiseNoSpace(then: @escaping () -> Void) {
    var proposal = Swetcdpb_InternalRequest()
    proposal.alarm.memberID = memberID
    proposal.alarm.action = .activate
    proposal.alarm.alarm = .nospace
    // Neither step at once: this may run while entries are applied, inside
    // the driver's Ready, which a proposal must not re-enter; and the
    // completion runs inside `waiters.trigger`, which `then` may call.
    LoopTimer.after(0, on: loop) { [weak self] in
      guard let self else { return }
      propose(proposal, timeoutMs: Self.requestTimeoutMs) { [loop] _ in
        LoopTimer.after(0, on: loop) { then() }
      }
    }
  }

  /// Reads the backend file's size, which the quota is measured against,
  /// after each commit: as etcd's backend size, it moves only then, and a
  /// request need not pay for a stat.
  func refreshBackendSize() {
    backendSize = Int64((try? mvcc?.dbSize()) ?? 0)
  }
}

extension Etcdserverpb_AlarmType {
  /// The name etcd gives the alarm type (`/health?exclude=NOSPACE`, logs).
  var etcdName: String {
    switch self {
    case .none: "NONE"
    case .nospace: "NOSPACE"
    case .corrupt: "CORRUPT"
    case .UNRECOGNIZED(let value): "\(value)"
    }
  }
}
