/// etcd's strict reconfiguration check (`--strict-reconfig-check`, on by
/// default): a membership change that could leave the cluster without an
/// active quorum is refused before it is proposed.
extension EtcdServer {
  enum ReconfigurationRefusal: Error {
    /// Too few members have ever started.
    case notEnoughStarted
    /// Too few peers have been connected for `healthIntervalMs`.
    case unhealthy
  }

  /// How long a peer must have been connected to count as active.
  static let healthIntervalMs: UInt64 = 5000

  /// Adding a voter needs a quorum of started members after the add; any
  /// add needs every voter connected for the health interval, since the
  /// new member counts toward the quorum before it runs.
  func checkMayAdd(learner: Bool) throws(ReconfigurationRefusal) {
    guard config.strictReconfigCheck else { return }
    if !learner && !members.isReadyToAddVoter { throw .notEnoughStarted }
    let voters = members.all.filter { !$0.isLearner }
    if activeVoters() < voters.count { throw .unhealthy }
  }

  /// Promoting a learner needs it and the started voters to be a quorum of
  /// the grown voter set.
  func checkMayPromote() throws(ReconfigurationRefusal) {
    guard config.strictReconfigCheck else { return }
    if !members.isReadyToPromote { throw .notEnoughStarted }
  }

  /// Removing a voter must leave a quorum of the remaining voters active;
  /// removing a learner, or a voter that is down, cannot cost the quorum.
  func checkMayRemove(_ id: UInt64) throws(ReconfigurationRefusal) {
    guard config.strictReconfigCheck else { return }
    if members[id]?.isLearner == true { return }
    guard members.isReadyToRemove(id) else { throw .notEnoughStarted }
    if id != memberID && transport.activeSince(id) == nil { return }
    let voters = members.all.filter { !$0.isLearner }.count
    if activeVoters() - 1 < (voters - 1) / 2 + 1 { throw .unhealthy }
  }

  /// Voters (this member included) connected for the health interval.
  private func activeVoters() -> Int {
    let now = loop.nowMs
    return members.all.filter { member in
      guard !member.isLearner else { return false }
      if member.id == memberID { return true }
      guard let since = transport.activeSince(member.id) else { return false }
      return since + Self.healthIntervalMs <= now
    }.count
  }
}
