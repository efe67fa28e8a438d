import Testing

@testable import Server

@Suite("Cluster membership")
struct ClusterMembersTests {
  func initial(_ spec: String, token: String = "etcd-cluster") throws -> ClusterMembers {
    ClusterMembers.initial(try ConfigLoader.parseInitialCluster(spec), token: token)
  }

  @Test("a default member lists as etcd lists it, with etcd's IDs")
  func defaultMember() throws {
    var members = try initial("default=http://localhost:2380")
    members.publish(0x8e9e_05c5_2164_694d, name: "default", clientURLs: ["http://localhost:2379"])
    #expect(MemberID.format(members.clusterID) == "cdf818194e3a8c32")
    #expect(
      members.v2JSON
        == "{\"members\":[{\"id\":\"8e9e05c52164694d\",\"name\":\"default\",\"peerURLs\":"
        + "[\"http://localhost:2380\"],\"clientURLs\":[\"http://localhost:2379\"]}]}")
  }

  @Test("every member of a static cluster derives the same IDs")
  func staticCluster() throws {
    let spec =
      "infra0=http://10.0.1.10:2380,infra1=http://10.0.1.11:2380,infra2=http://10.0.1.12:2380"
    let a = try initial(spec, token: "etcd-cluster-1")
    let b = try initial(spec, token: "etcd-cluster-1")
    #expect(a == b)
    #expect(a.all.count == 3)
    #expect(try initial(spec, token: "other").clusterID != a.clusterID)
    let twoURLs = try initial("m=http://a:1,m=http://b:2")
    #expect(twoURLs.all.count == 1 && twoURLs.all[0].peerURLs == ["http://a:1", "http://b:2"])
  }

  @Test("changes are refused with etcd's errors")
  func errors() throws {
    var members = try initial("a=http://a:1,b=http://b:1")
    let existing = members.all[0]
    #expect(throws: MembershipError.idExists) { try members.add(existing) }
    #expect(throws: MembershipError.peerURLExists) {
      try members.add(Member(id: 99, name: "", peerURLs: ["http://a:1"]))
    }
    try members.add(Member(id: 99, name: "", peerURLs: ["http://c:1"], isLearner: true))
    try members.promote(99)
    #expect(members[99]?.isLearner == false)
    try members.remove(99)
    #expect(throws: MembershipError.idRemoved) { try members.remove(99) }
    #expect(throws: MembershipError.idRemoved) { try members.updatePeerURLs(99, ["http://e:1"]) }
    #expect(throws: MembershipError.notFound) { try members.remove(98) }
    #expect(throws: MembershipError.idRemoved) {
      try members.add(Member(id: 99, name: "", peerURLs: ["http://d:1"]))
    }
    #expect(throws: MembershipError.peerURLExists) {
      try members.updatePeerURLs(existing.id, [members.all[1].peerURLs[0]])
    }
  }
}
