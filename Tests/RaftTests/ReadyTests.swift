import EtcdProto
import Raft
import Testing

@Suite("The Ready contract: persist before acknowledging (§3.8, §10.2.1)")
struct ReadyTests {
  @Test("ready() twice without advance() traps")
  func readyTwiceTraps() async {
    await #expect(processExitsWith: .failure) {
      let node = RawNode(config: RaftConfig(id: 1), storage: MemoryStorage(), peers: [1])
      _ = node.ready()
      _ = node.ready()
    }
  }

  @Test("advance() without an outstanding Ready traps")
  func advanceWithoutReadyTraps() async {
    await #expect(processExitsWith: .failure) {
      let node = RawNode(config: RaftConfig(id: 1), storage: MemoryStorage(), peers: [1])
      let rd = node.ready()
      node.advance(rd)
      node.advance(rd)
    }
  }

  @Test("no further Ready is offered while one is outstanding")
  func noReadyWhileOutstanding() throws {
    let cluster = TestCluster(members: [1])
    cluster.elect(1)
    try cluster.propose(1, "a")
    let rd = cluster[1].ready()
    try cluster.propose(1, "b")
    #expect(!cluster[1].hasReady)
    cluster.handle(1, rd)
    #expect(cluster[1].hasReady)
  }

  @Test(
    "§3.8 vote responses, granted or not, leave only after the Ready is persisted",
    arguments: [(2, 4, false), (1, 9, true)] as [(UInt64, UInt64, Bool)])
  func voteResponsesAfterSync(lastTerm: UInt64, lastIndex: UInt64, reject: Bool) throws {
    let cluster = TestCluster(members: [1, 2, 3]) { $0.checkQuorum = false }
    cluster.elect(1)
    try cluster[2].step(
      message(.msgVote, from: 3, to: 2, term: 3, index: lastIndex, logTerm: lastTerm))
    let rd = cluster[2].ready()
    #expect(rd.messages.isEmpty)
    #expect(rd.messagesAfterSync.map(\.type) == [.msgVoteResp])
    #expect(rd.messagesAfterSync.first?.reject == reject)
    #expect(rd.hardState?.term == 3)
    #expect(rd.hardState?.vote == (reject ? 0 : 3))
    #expect(rd.mustSync)
    cluster.handle(2, rd)
  }

  @Test(
    "§3.8 append and heartbeat responses leave only after the Ready is persisted",
    arguments: [
      (Raftpb_MessageType.msgApp, UInt64(4), false), (.msgApp, 7, true), (.msgHeartbeat, 0, false),
    ])
  func appendResponsesAfterSync(type: Raftpb_MessageType, index: UInt64, reject: Bool) throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    let entries = type == .msgApp ? [entry(index + 1, term: 2, "x")] : []
    try cluster[2].step(
      message(type, from: 1, to: 2, term: 2, index: index, logTerm: 2, commit: 4, entries: entries))
    let rd = cluster[2].ready()
    #expect(rd.messages.isEmpty)
    #expect(rd.messagesAfterSync.count == 1)
    #expect(rd.messagesAfterSync.first?.type == (type == .msgApp ? .msgAppResp : .msgHeartbeatResp))
    #expect(rd.messagesAfterSync.first?.reject == reject)
    #expect(rd.entries.count == (type == .msgApp && !reject ? 1 : 0))
    cluster.handle(2, rd)
  }

  @Test("§3.8 the vote requests of a new term leave only once the term is persisted")
  func voteRequestsAfterSync() {
    let cluster = TestCluster(members: [1, 2, 3]) { $0.preVote = false }
    cluster[1].campaign()
    let rd = cluster[1].ready()
    #expect(rd.messages.isEmpty)
    #expect(rd.messagesAfterSync.map(\.type) == [.msgVote, .msgVote])
    #expect(rd.hardState?.term == 2)
    #expect(rd.hardState?.vote == 1)
    cluster.handle(1, rd)
  }

  @Test("§9.6 pre-vote requests promise nothing and may leave at once")
  func preVoteRequestsAtOnce() {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster[1].campaign()
    let rd = cluster[1].ready()
    #expect(rd.messages.map(\.type) == [.msgPreVote, .msgPreVote])
    #expect(rd.messagesAfterSync.isEmpty)
    #expect(rd.hardState == nil)
    cluster.handle(1, rd)
  }

  @Test("§10.2.1 a leader's appends leave at once when its term is already durable")
  func leaderAppendsAtOnce() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    try cluster.propose(1, "x")
    let rd = cluster[1].ready()
    #expect(rd.messages.map(\.type) == [.msgApp, .msgApp])
    #expect(rd.messagesAfterSync.isEmpty)
    #expect(rd.entries.count == 1)
    cluster.handle(1, rd)
  }

  @Test("§3.8 a leader's appends wait while its term is not durable yet")
  func leaderAppendsWaitForTerm() throws {
    let cluster = TestCluster(members: [1, 2, 3]) { $0.preVote = false }
    cluster[1].campaign()
    try cluster[1].step(message(.msgVoteResp, from: 2, to: 1, term: 2))
    #expect(cluster[1].role == .leader)
    let rd = cluster[1].ready()
    #expect(rd.messages.isEmpty)
    #expect(rd.messagesAfterSync.filter { $0.type == .msgApp }.map(\.to) == [2, 3])
    #expect(rd.hardState?.term == 2)
    cluster.handle(1, rd)
  }

  @Test("§10.2.1 a leader's own entry counts toward the quorum only once it is persisted")
  func leaderCountsItselfAfterPersist() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    let committed = cluster[1].committedIndex
    try cluster.propose(1, "x")
    let rd = cluster[1].ready()
    cluster.inFlight.append(contentsOf: rd.messages)
    cluster.deliver { $0.to == 2 }
    _ = cluster.take { $0.to == 3 }
    cluster.deliver(cluster.take { $0.from == 2 && $0.type == .msgAppResp }[0])
    #expect(cluster[1].committedIndex == committed, "only 2 stores it durably")
    cluster.storages[1]!.append(rd.entries)
    cluster[1].advance(rd)
    #expect(cluster[1].committedIndex == committed + 1)
  }

  @Test("§3.8 committed entries are handed out once, in order, and only once committed")
  func committedEntriesOnce() throws {
    let cluster = TestCluster(members: [1, 2, 3])
    cluster.elect(1)
    for data in ["a", "b", "c"] { try cluster.propose(1, data) }
    cluster.settle()
    let indexes = cluster.applied[2]!.map(\.index)
    #expect(indexes == Array(1...cluster[2].committedIndex))
    #expect(cluster[2].appliedIndex == cluster[2].committedIndex)
  }
}
