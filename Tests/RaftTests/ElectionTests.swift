import EtcdProto
import Raft
import Testing

@Suite("Leader election (§3.4)")
struct ElectionTests {
  @Test("a campaigning member with an up-to-date log wins a majority")
  func electsLeader() {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    #expect(cluster[1].role == .leader)
    #expect(cluster[2].leader == 1)
    #expect(cluster[3].leader == 1)
    #expect(cluster[1].term == 2)
  }

  @Test("proposals commit on every member once a quorum stores them (§3.5)")
  func replicates() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    try cluster[1].propose(Array("a".utf8))
    try cluster[1].propose(Array("b".utf8))
    cluster.settle()
    cluster.tickAll()
    for id: UInt64 in [1, 2, 3] {
      #expect(cluster.appliedData(id) == ["a", "b"])
    }
  }

  @Test("a single member elects itself when its election timeout elapses")
  func singleMember() throws {
    let cluster = TestCluster(members: [1])
    cluster.tickAll(25)
    #expect(cluster[1].role == .leader)
    try cluster[1].propose(Array("x".utf8))
    cluster.settle()
    #expect(cluster.appliedData(1) == ["x"])
  }
}
