import EtcdProto
import Raft
import Testing

@Suite("Membership changes (§4.1)")
struct MembershipTests {
  struct ChangeCase: Sendable, CustomTestStringConvertible {
    var name: String
    var changes: [(Raftpb_ConfChangeType, UInt64)]
    var voters: [UInt64]
    var learners: [UInt64]
    var testDescription: String { name }
  }

  @Test(
    "§4.1 one change at a time: every member ends with the same membership",
    arguments: [
      ChangeCase(
        name: "add a voter", changes: [(.confChangeAddNode, 4)], voters: [1, 2, 3, 4],
        learners: []),
      ChangeCase(
        name: "add a learner", changes: [(.confChangeAddLearnerNode, 4)], voters: [1, 2, 3],
        learners: [4]),
      ChangeCase(
        name: "promote a learner",
        changes: [(.confChangeAddLearnerNode, 4), (.confChangeAddNode, 4)],
        voters: [1, 2, 3, 4], learners: []),
      ChangeCase(
        name: "a voter is not demoted to learner",
        changes: [(.confChangeAddNode, 4), (.confChangeAddLearnerNode, 4)],
        voters: [1, 2, 3, 4], learners: []),
      ChangeCase(
        name: "remove a voter", changes: [(.confChangeRemoveNode, 3)], voters: [1, 2],
        learners: []),
      ChangeCase(
        name: "remove a learner",
        changes: [(.confChangeAddLearnerNode, 4), (.confChangeRemoveNode, 4)],
        voters: [1, 2, 3], learners: []),
    ])
  func changesApply(c: ChangeCase) throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    try cluster.propose(1, "before")
    cluster.settle()
    cluster.addNode(4)
    for (type, member) in c.changes {
      try cluster[1].proposeConfChange(confChange(type, member))
      cluster.settle()
    }
    try cluster.propose(1, "after")
    cluster.settle()
    for id in c.voters + c.learners {
      #expect(cluster[id].confState.voters == c.voters, "member \(id)")
      #expect(cluster[id].confState.learners == c.learners, "member \(id)")
      #expect(cluster.appliedData(id) == ["before", "after"], "member \(id)")
    }
  }

  @Test("§4.1 a member does not campaign while a committed membership change is unapplied")
  func noCampaignBeforeConfChangeApplied() throws {
    let storage = MemoryStorage()
    let node = RawNode(config: RaftConfig(id: 1), storage: storage, peers: [1])
    // The bootstrap entry is committed but not applied yet.
    node.campaign()
    #expect(node.role == .follower)
    let rd = node.ready()
    storage.append(rd.entries)
    if let hard = rd.hardState { storage.setHardState(hard) }
    for entry in rd.committedEntries where entry.type == .entryConfChange {
      _ = node.applyConfChange(try Raftpb_ConfChange(serializedBytes: entry.data))
    }
    node.advance(rd)
    node.campaign()
    #expect(node.role == .leader)
  }

  @Test("§4.1 a second change is refused while the first is not applied")
  func oneChangeAtATime() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    cluster.addNode(4)
    cluster.addNode(5)
    try cluster[1].proposeConfChange(confChange(.confChangeAddNode, 4))
    #expect(throws: RaftError.confChangePending) {
      try cluster[1].proposeConfChange(confChange(.confChangeAddNode, 5))
    }
    try cluster.propose(1, "ordinary proposals still go")
    cluster.settle()
    try cluster[1].proposeConfChange(confChange(.confChangeAddNode, 5))
    cluster.settle()
    #expect(cluster[1].confState.voters == [1, 2, 3, 4, 5])
  }

  @Test("§4.1 removing a member shrinks the quorum, so an entry it never stored commits")
  func removalShrinksQuorum() throws {
    let cluster = TestCluster(members: [1, 2])
    cluster.elect(1)
    try cluster[1].proposeConfChange(confChange(.confChangeRemoveNode, 2))
    cluster.process(1)
    cluster.deliver { $0.type == .msgApp && $0.to == 2 }
    try cluster.propose(1, "x")
    cluster.process(1)
    _ = cluster.take { $0.type == .msgApp && $0.to == 2 }
    cluster.crash(2)
    // 2's ack commits the removal; applying it leaves 1 alone, which commits "x".
    cluster.settle()
    #expect(cluster[1].confState.voters == [1])
    #expect(cluster.appliedData(1) == ["x"])
    try cluster.propose(1, "y")
    cluster.settle()
    #expect(cluster.appliedData(1) == ["x", "y"])
  }

  @Test("§4.1 a removed member is sent nothing more")
  func removedMemberForgotten() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    try cluster[1].proposeConfChange(confChange(.confChangeRemoveNode, 3))
    cluster.settle()
    let toThree = cluster.sent.filter { $0.to == 3 }.count
    try cluster.propose(1, "x")
    cluster.tickAll(20)
    #expect(cluster.sent.filter { $0.to == 3 }.count == toThree)
    #expect(cluster.appliedData(2) == ["x"])
  }

  @Test("§4.2.2 a leader that removes itself steps down and the rest elect a new leader")
  func leaderRemovesItself() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    try cluster[1].proposeConfChange(confChange(.confChangeRemoveNode, 1))
    cluster.settle()
    #expect(cluster[1].role == .follower)
    for _ in 0..<60 where cluster[2].role != .leader && cluster[3].role != .leader {
      cluster.tickAll()
    }
    let leader: UInt64 = cluster[2].role == .leader ? 2 : 3
    #expect(cluster[leader].confState.voters == [2, 3])
    try cluster.propose(leader, "x")
    cluster.settle()
    #expect(cluster.appliedData(2) == ["x"])
    #expect(cluster.appliedData(3) == ["x"])
  }
}
