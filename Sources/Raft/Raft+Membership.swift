import EtcdProto

extension Raft {
  /// Adopts a membership wholesale (at start-up or from a snapshot).
  func applyConfState(_ state: Raftpb_ConfState) {
    voters = state.voters.sorted()
    learners = state.learners.sorted()
    let next = log.lastIndex + 1
    var fresh: [UInt64: Progress] = [:]
    for member in voters + learners {
      // A new member counts as active so it can be sent a snapshot at once.
      var pr =
        progress[member]
        ?? Progress(next: next, inflightCapacity: maxInflight, isLearner: false, active: true)
      pr.isLearner = learners.contains(member)
      if member == id { pr.match = max(pr.match, log.stableIndex) }
      fresh[member] = pr
    }
    progress = fresh
  }

  var confState: Raftpb_ConfState {
    var state = Raftpb_ConfState()
    state.voters = voters
    state.learners = learners
    return state
  }

  /// Applies a committed membership change (§4.1: one server at a time, in
  /// effect once applied). Returns the new membership.
  func applyConfChange(_ change: Raftpb_ConfChange) -> Raftpb_ConfState {
    let member = change.nodeID
    var newVoters = Set(voters)
    var newLearners = Set(learners)
    switch change.type {
    case .confChangeAddNode:
      // Adding a learner as a voter promotes it.
      newLearners.remove(member)
      newVoters.insert(member)
    case .confChangeAddLearnerNode:
      // A voter is never demoted to a learner by this change.
      if !newVoters.contains(member) { newLearners.insert(member) }
    case .confChangeRemoveNode:
      newVoters.remove(member)
      newLearners.remove(member)
    case .confChangeUpdateNode, .UNRECOGNIZED:
      // Membership is unchanged; the caller updates the member's URLs.
      return confState
    }
    var state = Raftpb_ConfState()
    state.voters = newVoters.sorted()
    state.learners = newLearners.sorted()
    applyConfState(state)
    if pendingConfIndex <= log.applied { pendingConfIndex = 0 }

    if role == .leader {
      if !isVoter(id) {
        // A leader removed from the voters hands over by stepping down; the
        // others elect a new leader after an election timeout.
        becomeFollower(term: term, leader: 0)
        return state
      }
      if leadTransferee != 0 && !isVoter(leadTransferee) { leadTransferee = 0 }
      // A smaller quorum may commit more now; new members need the log.
      if maybeCommit() { broadcastAppend() } else { broadcastAppendToNewMembers() }
    }
    return state
  }

  private func broadcastAppendToNewMembers() {
    for member in voters + learners where member != id && progress[member]!.match == 0 {
      sendAppend(to: member)
    }
  }
}
