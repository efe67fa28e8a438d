import EtcdProto
import Raft
import Testing

@Suite("Leadership transfer (§3.10)")
struct LeaderTransferTests {
  @Test(
    "§3.10 to an up-to-date follower: MsgTimeoutNow at once, and it wins the next term",
    arguments: [true, false])
  func transferToUpToDateFollower(checkQuorum: Bool) {
    let cluster = TestCluster(members: [1, 2, 3]) { $0.checkQuorum = checkQuorum }
    cluster.elect(1)
    cluster[1].transferLeader(to: 2)
    cluster.process(1)
    #expect(cluster.inFlight.map(\.type) == [.msgTimeoutNow])
    cluster.settle()
    #expect(cluster[2].role == .leader)
    #expect(cluster[2].term == 3)
    #expect(cluster[1].role == .follower)
    #expect(cluster[1].leader == 2)
    #expect(cluster[3].leader == 2)
  }

  @Test("§3.10 to a lagging follower: its log is brought up to date before MsgTimeoutNow")
  func transferToLaggingFollower() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    cluster.cut.insert([1, 3])
    try cluster.propose(1, "a")
    try cluster.propose(1, "b")
    cluster.settle()
    cluster.healAll()
    let lastIndex = cluster[1].lastIndex
    let before = cluster.sent.count
    cluster[1].transferLeader(to: 3)
    cluster.process(1)
    #expect(!cluster.inFlight.contains { $0.type == .msgTimeoutNow })
    cluster.settle()
    let after = Array(cluster.sent[before...])
    let timeoutNow = try #require(after.firstIndex { $0.type == .msgTimeoutNow })
    let caughtUp = try #require(
      after.firstIndex { $0.type == .msgAppResp && $0.from == 3 && $0.index == lastIndex })
    #expect(caughtUp < timeoutNow)
    #expect(cluster[3].role == .leader)
    #expect(cluster.appliedData(3) == ["a", "b"])
  }

  @Test("§3.10 proposals are refused while a transfer is in progress")
  func proposalsRefusedDuringTransfer() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    // 3 misses an entry and cannot catch up, so the transfer stays pending.
    cluster.cut.insert([1, 3])
    try cluster.propose(1, "a")
    cluster.settle()
    cluster[1].transferLeader(to: 3)
    cluster.settle()
    #expect(throws: RaftError.leaderTransferring) { try cluster.propose(1, "b") }
    #expect(cluster[1].role == .leader)
  }

  @Test("§3.10 a transfer that does not finish within an election timeout is abandoned")
  func transferAbandoned() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    cluster.crash(2)
    cluster[1].transferLeader(to: 2)
    cluster.settle()
    #expect(cluster.sent(.msgTimeoutNow, to: 2).count == 1)
    #expect(throws: RaftError.leaderTransferring) { try cluster.propose(1, "early") }
    cluster.tick(1, 9)
    #expect(throws: RaftError.leaderTransferring) { try cluster.propose(1, "early") }
    cluster.tick(1)
    try cluster.propose(1, "late")
    cluster.settle()
    #expect(cluster[1].role == .leader)
    #expect(cluster[1].term == 2)
    #expect(cluster.appliedData(3) == ["late"])
  }

  @Test("§3.10 a learner cannot be made leader")
  func learnerTransfereeRefused() throws {
    let cluster = TestCluster(members: [1, 2, 3], learners: [4])
    cluster.elect(1)
    cluster[1].transferLeader(to: 4)
    cluster.settle()
    #expect(cluster.sent(.msgTimeoutNow).isEmpty)
    #expect(cluster[1].role == .leader)
    try cluster.propose(1, "x")
    cluster.settle()
    #expect(cluster.appliedData(4) == ["x"])
  }

  @Test("§3.10 a transfer to the leader itself changes nothing")
  func transferToSelf() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    cluster[1].transferLeader(to: 1)
    cluster.settle()
    #expect(cluster.sent(.msgTimeoutNow).isEmpty)
    try cluster.propose(1, "x")
    cluster.settle()
    #expect(cluster.appliedData(2) == ["x"])
  }

  @Test("§3.10 a transfer asked of a follower reaches the leader and goes to the named member")
  func transferAskedOfFollower() {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    cluster[2].transferLeader(to: 3)
    cluster.settle()
    #expect(cluster[3].role == .leader)
    #expect(cluster[2].leader == 3)
  }
}
