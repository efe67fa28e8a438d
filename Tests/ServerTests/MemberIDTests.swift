import Testing

@testable import Server

@Suite("Member and cluster IDs")
struct MemberIDTests {
  @Test("SHA-1 known answers (FIPS 180 examples)")
  func sha1() {
    func hex(_ s: String) -> String {
      Digest.sha1(Array(s.utf8)).map { String($0, radix: 16) }.map { $0.count == 1 ? "0" + $0 : $0 }
        .joined()
    }
    #expect(hex("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d")
    #expect(hex("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
    #expect(
      hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
        == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
    #expect(hex(String(repeating: "a", count: 1000)).count == 40)
  }

  @Test("a default single member gets the IDs etcd 3.4 gives it")
  func etcdDefaults() {
    let member = MemberID.member(peerURLs: ["http://localhost:2380"], clusterToken: "etcd-cluster")
    #expect(MemberID.format(member) == "8e9e05c52164694d")
    #expect(MemberID.format(MemberID.cluster(memberIDs: [member])) == "cdf818194e3a8c32")
  }

  @Test("peer URL order does not matter; the token and the add time do")
  func inputs() {
    let a = MemberID.member(peerURLs: ["http://a:1", "http://b:2"], clusterToken: "t")
    #expect(a == MemberID.member(peerURLs: ["http://b:2", "http://a:1"], clusterToken: "t"))
    #expect(a != MemberID.member(peerURLs: ["http://a:1", "http://b:2"], clusterToken: "u"))
    #expect(
      a != MemberID.member(peerURLs: ["http://a:1", "http://b:2"], clusterToken: "t", addedAt: 1))
    #expect(MemberID.cluster(memberIDs: [1, 2]) == MemberID.cluster(memberIDs: [2, 1]))
  }
}
