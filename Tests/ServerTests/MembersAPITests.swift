import Testing

@testable import Server

@Suite("JSON bodies, as Go's encoding/json reads them")
struct JSONValueTests {
  @Test func parsesTheValueKinds() throws {
    let value = try JSONValue.parse(
      Array(#" {"a":[1,-2.5e3,"x\n\u00e9\ud83d\ude00"],"b":{"c":true,"d":null},"e":false} "#.utf8))
    #expect(
      value
        == .object([
          "a": .array([.number("1"), .number("-2.5e3"), .string("x\né😀")]),
          "b": .object(["c": .bool(true), "d": .null]), "e": .bool(false),
        ]))
  }

  @Test func keepsLargeIntegersExact() throws {
    #expect(
      try JSONValue.parse(Array("17496614320493254894".utf8)) == .number("17496614320493254894"))
  }

  @Test(
    "errors in Go's words",
    arguments: [
      ("", "unexpected end of JSON input"),
      ("{\"peer", "unexpected end of JSON input"),
      ("x", "invalid character 'x' looking for beginning of value"),
      ("{1:2}", "invalid character '1' looking for beginning of object key string"),
      ("[1 2]", "invalid character '2' after array element"),
      ("{} {}", "invalid character '{' after top-level value"),
      ("tru", "unexpected end of JSON input"),
    ])
  func errors(input: String, message: String) {
    #expect(throws: JSONValue.ParseError(message: message)) {
      try JSONValue.parse(Array(input.utf8))
    }
  }

  @Test func refusesDeepNesting() {
    let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
    #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(Array(deep.utf8)) }
  }
}

@Suite("POST/PUT /v2/members bodies")
struct MemberRequestTests {
  func decode(_ text: String) throws(MemberRequest.Invalid) -> [String] {
    try MemberRequest.decode(Array(text.utf8)).peerURLs
  }

  @Test func sortsValidURLs() throws {
    #expect(
      try decode(#"{"peerURLs":["http://b:2380","http://a:2380"],"other":1}"#)
        == ["http://a:2380", "http://b:2380"])
    #expect(try decode(#"{"PeerURLs":["https://[::1]:2380"]}"#) == ["https://[::1]:2380"])
  }

  @Test(
    "etcd's refusals",
    arguments: [
      ("{}", "no valid URLs given"),
      (#"{"peerURLs":[]}"#, "no valid URLs given"),
      (
        #"{"peerURLs":"x"}"#,
        "json: cannot unmarshal string into Go struct field .peerURLs of type []string"
      ),
      (
        #"{"peerURLs":[1]}"#,
        "json: cannot unmarshal number into Go struct field .peerURLs of type string"
      ),
      ("[]", "json: cannot unmarshal array into Go value of type struct"),
      (#"{"peerURLs":["foo"]}"#, "URL scheme must be http, https, unix, or unixs: foo"),
      (#"{"peerURLs":["http://a"]}"#, "URL address does not have the form \"host:port\": http://a"),
      (#"{"peerURLs":["http://a:1/x"]}"#, "URL must not contain a path: http://a:1/x"),
    ])
  func refusals(body: String, message: String) {
    #expect(throws: MemberRequest.Invalid(message: message)) { try decode(body) }
  }
}

@Suite("strict reconfiguration checks")
struct ReconfigurationCheckTests {
  func cluster(started: Int, unstarted: Int, learners: Int = 0) -> ClusterMembers {
    var members: [Member] = []
    for i in 0..<started { members.append(Member(id: UInt64(i + 1), name: "m\(i)", peerURLs: [])) }
    for i in 0..<unstarted { members.append(Member(id: UInt64(100 + i), name: "", peerURLs: [])) }
    for i in 0..<learners {
      members.append(Member(id: UInt64(200 + i), name: "l", peerURLs: [], isLearner: true))
    }
    return ClusterMembers(clusterID: 1, members: members)
  }

  @Test func adding() {
    #expect(cluster(started: 1, unstarted: 0).isReadyToAddVoter, "a lone member may grow")
    #expect(!cluster(started: 1, unstarted: 1).isReadyToAddVoter, "1 started of 3")
    #expect(cluster(started: 2, unstarted: 0).isReadyToAddVoter, "2 started of 3")
    #expect(!cluster(started: 2, unstarted: 1).isReadyToAddVoter, "2 started of 4")
    #expect(cluster(started: 3, unstarted: 1).isReadyToAddVoter, "3 started of 5")
    #expect(
      cluster(started: 2, unstarted: 0, learners: 3).isReadyToAddVoter, "learners don't count")
  }

  @Test func removing() {
    #expect(!cluster(started: 1, unstarted: 0).isReadyToRemove(1), "the last voter stays")
    #expect(cluster(started: 1, unstarted: 1).isReadyToRemove(100), "the unstarted one may go")
    #expect(!cluster(started: 1, unstarted: 1).isReadyToRemove(1), "1 unstarted of 1 left")
    #expect(!cluster(started: 2, unstarted: 1).isReadyToRemove(1), "1 started of 2 left")
    #expect(cluster(started: 3, unstarted: 0).isReadyToRemove(1))
    #expect(cluster(started: 1, unstarted: 2, learners: 1).isReadyToRemove(200), "a learner")
    #expect(!cluster(started: 1, unstarted: 1).isReadyToRemove(1234), "no member: 1 of 2 started")
    #expect(cluster(started: 2, unstarted: 1).isReadyToRemove(1234), "no member: 2 of 3 started")
  }
}

@Suite("joining: the running cluster's answer")
struct RemoteClusterTests {
  let body = Array(
    (#"[{"id":7601040239782319370,"peerURLs":["http://127.0.0.1:26002"],"name":"s2","#
      + #""clientURLs":["http://127.0.0.1:27002"]},{"id":15867453324057714388,"#
      + #""peerURLs":["http://127.0.0.1:26003"],"name":"","clientURLs":[],"isLearner":true}]"#).utf8
  )

  @Test func decodesEtcdsPeerMembersList() throws {
    let members = try RemoteCluster.decodeMembers(body)
    #expect(
      members == [
        Member(
          id: 7_601_040_239_782_319_370, name: "s2", peerURLs: ["http://127.0.0.1:26002"],
          clientURLs: ["http://127.0.0.1:27002"]),
        Member(
          id: 15_867_453_324_057_714_388, name: "", peerURLs: ["http://127.0.0.1:26003"],
          isLearner: true),
      ])
    let encoded = "[" + members.map(\.peerJSON).joined(separator: ",") + "]"
    #expect(encoded == String(decoding: body, as: UTF8.self), "served as it is read")
  }

  @Test func assignsTheIDTheClusterGave() throws {
    let remote = RemoteCluster(clusterID: 9, members: try RemoteCluster.decodeMembers(body))
    let local = ClusterMembers(
      clusterID: 0,
      members: [
        Member(id: 1, name: "s2", peerURLs: ["http://127.0.0.1:26002"]),
        Member(id: 2, name: "new", peerURLs: ["http://127.0.0.1:26003"]),
      ])
    #expect(try remote.assignID(local: local, name: "new") == 15_867_453_324_057_714_388)
    #expect(throws: RemoteCluster.Failure.self) { try remote.assignID(local: local, name: "s2") }
    let short = ClusterMembers(clusterID: 0, members: [local.all[0]])
    #expect(throws: RemoteCluster.Failure.self) { try remote.assignID(local: short, name: "s2") }
    let moved = ClusterMembers(
      clusterID: 0,
      members: [local.all[0], Member(id: 2, name: "new", peerURLs: ["http://127.0.0.1:1"])])
    #expect(throws: RemoteCluster.Failure.self) { try remote.assignID(local: moved, name: "new") }
  }
}

@Suite("v2 stats")
struct StatsTests {
  @Test func leaderStatsTrackRoundTrips() {
    var stats = LeaderStats()
    stats.sent(to: 0xa, at: 0)
    stats.sent(to: 0xa, at: 1_000_000)
    stats.answered(by: 0xa, at: 2_000_000)
    stats.answered(by: 0xa, at: 9_000_000)
    stats.sent(to: 0xa, at: 10_000_000)
    stats.answered(by: 0xa, at: 14_000_000)
    stats.failed(0xb)
    #expect(
      stats.json(leader: 1)
        == #"{"leader":"1","followers":{"a":{"latency":{"current":4,"average":3,"#
        + #""standardDeviation":1,"minimum":2,"maximum":4},"counts":{"fail":0,"success":2}},"#
        + #""b":{"latency":{"current":0,"average":0,"standardDeviation":0,"minimum":0,"#
        + #""maximum":0},"counts":{"fail":1,"success":0}}}}"#)
  }

  @Test func ratesCoverRecentRequestsOnly() {
    var stats = ServerStats()
    for i in 0..<10 { stats.appendSent(bytes: 100, at: Int64(i) * 100_000_000) }
    #expect(
      stats.jsonFields(isLeader: true, at: 1_000_000_000)
        == #""recvAppendRequestCnt":0,"sendAppendRequestCnt":10,"sendPkgRate":10,"#
        + #""sendBandwidthRate":1000"#)
    #expect(
      stats.jsonFields(isLeader: true, at: 3_000_000_000)
        == #""recvAppendRequestCnt":0,"sendAppendRequestCnt":10"#, "stale: no rate")
    #expect(ServerClock.goFloat(0.5) == "0.5" && ServerClock.goFloat(3) == "3")
    #expect(
      [1, 142_281, 100_000_000, 2_111_768_038, 62_500_000_000, 3_600_000_000_000].map(
        ServerClock.goDuration) == [
          "1ns", "142.281µs", "100ms", "2.111768038s", "1m2.5s", "1h0m0s",
        ])
  }

  @Test("self stats keep their state and leader through an election, as etcd's")
  func selfStatsState() {
    var stats = ServerStats()
    #expect(!stats.isLeaderState && stats.leader == 0 && stats.leaderSince == 0)
    stats.becameLeader(7, wall: 100)
    // Deposed, or a candidate: nothing changes until another leader's append.
    #expect(stats.isLeaderState && stats.leader == 7 && stats.leaderSince == 100)
    stats.appendReceived(bytes: 10, from: 9, at: 1, wall: 200)
    #expect(!stats.isLeaderState && stats.leader == 9 && stats.leaderSince == 200)
    stats.appendReceived(bytes: 10, from: 9, at: 2, wall: 300)
    #expect(stats.leaderSince == 200 && stats.receivedAppends == 2)
  }
}
