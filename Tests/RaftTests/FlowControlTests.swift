import EtcdProto
import Raft
import Testing

/// Appends that carry entries, sent to `member` since message `since`.
private func appends(to member: UInt64, in cluster: TestCluster, since: Int) -> Int {
  cluster.sent[since...].filter { $0.type == .msgApp && $0.to == member && !$0.entries.isEmpty }
    .count
}

@Suite("Flow control: probing and the in-flight window (§10.2.2)")
struct FlowControlTests {
  @Test(
    "§10.2.2 a follower that never acknowledges gets at most maxInflightMessages appends",
    arguments: [1, 4, 8])
  func inflightWindowBounds(window: Int) throws {
    let cluster = TestCluster(members: [1, 2, 3]) { $0.maxInflightMessages = window }
    cluster.elect(1)
    cluster.cut.insert([3, 1])
    let before = cluster.sent.count
    for i in 0..<20 {
      try cluster.propose(1, "e\(i)")
      cluster.settle()
    }
    cluster.tick(1, 5)
    #expect(appends(to: 3, in: cluster, since: before) == window)
    #expect(appends(to: 2, in: cluster, since: before) == 20)
  }

  @Test("§10.2.2 in replicate state appends stream without waiting for acknowledgements")
  func replicateStreams() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    cluster.hold = { $0.type == .msgAppResp && $0.from == 3 }
    let before = cluster.sent.count
    for i in 0..<5 { try cluster.propose(1, "e\(i)") }
    cluster.settle()
    #expect(appends(to: 3, in: cluster, since: before) == 5)
    cluster.release()
    cluster.settle()
    #expect(cluster.appliedData(3).count == 5)
  }

  @Test(
    "§10.2.2 a follower whose acknowledgements were lost catches up once it answers a heartbeat",
    arguments: [1, 4])
  func lostWindowRecovers(window: Int) throws {
    let cluster = TestCluster(members: [1, 2, 3]) { $0.maxInflightMessages = window }
    cluster.elect(1)
    cluster.cut.insert([3, 1])
    for i in 0..<10 { try cluster.propose(1, "e\(i)") }
    cluster.settle()
    cluster.healAll()
    cluster.tickAll(3)
    #expect(cluster.appliedData(3) == (0..<10).map { "e\($0)" })
  }

  @Test("§10.2.2 a follower in probe state gets one append at a time")
  func probeSendsOneAtATime() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    // The transport lost 3: the leader probes it again.
    cluster[1].reportUnreachable(3)
    cluster.cut.insert([3, 1])
    let before = cluster.sent.count
    for i in 0..<5 { try cluster.propose(1, "e\(i)") }
    cluster.settle()
    #expect(appends(to: 3, in: cluster, since: before) == 1)
    cluster.healAll()
    cluster.tickAll(2)
    #expect(cluster.appliedData(3) == (0..<5).map { "e\($0)" })
  }
}
