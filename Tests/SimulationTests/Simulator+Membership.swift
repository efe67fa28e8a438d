import EtcdProto
import Raft

extension Simulator {
  /// Grows or shrinks the cluster one step through its leader: a new member
  /// joins as a learner, a learner is promoted, or a voter is removed (never
  /// below three). Removed IDs are never reused, as in etcd.
  func changeMembership() {
    guard let leader = currentLeader(), let raft = leader.raft else { return }
    let conf = raft.confState
    var change = Raftpb_ConfChange()
    if let learner = conf.learners.first {
      change.type = .confChangeAddNode
      change.nodeID = learner
    } else if conf.voters.count > 3 && chance(0.5) {
      change.type = .confChangeRemoveNode
      change.nodeID = conf.voters[Int(rng.next() % UInt64(conf.voters.count))]
    } else {
      change.type = .confChangeAddLearnerNode
      change.nodeID = UInt64(nodes.count) + 1
    }
    do {
      try raft.proposeConfChange(change)
    } catch {
      return
    }
    log("member \(leader.id) proposes \(change.type) \(change.nodeID)")
    if change.type == .confChangeAddLearnerNode {
      // The new member starts empty and learns the cluster from the leader.
      do {
        try addNode(id: change.nodeID, peers: [], tracing: trace != nil)
      } catch {
        checker.violations.append("cannot create member \(change.nodeID): \(error)")
      }
    }
  }

  /// A removal takes effect when first applied: the removed member is
  /// stopped for good.
  func observeConfChange(_ entry: Raftpb_Entry) {
    guard entry.type == .entryConfChange,
      let change = try? Raftpb_ConfChange(serializedBytes: entry.data),
      change.type == .confChangeRemoveNode
    else { return }
    let member = node(change.nodeID)
    guard !member.removed else { return }
    log("member \(member.id) removed")
    member.removed = true
    if member.isAlive { crash(member) }
  }
}
