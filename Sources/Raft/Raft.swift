// Raft consensus as a pure, single-threaded state machine (Ongaro's thesis,
// "Consensus: Bridging Theory and Practice", cited as §N).
//
// Nothing here reads a clock or touches a file or socket. The caller drives a
// member through `RawNode`: `tick()` at a fixed interval, `step(_:)` for every
// message from a peer, `propose`/`readIndex` for clients; then `ready()` hands
// out what to persist, send and apply, and `advance(_:)` acknowledges it.
//
// Caveats:
// - One membership change at a time (§4.1): a conf change is refused while an
//   earlier one is not applied yet. Joint consensus is not implemented.
// - ReadIndex relies on heartbeats only, never on clock leases (§6.4).
// - The leader's own log counts toward a commit quorum only once the caller
//   reports it durable, so sending appends before the local fsync is safe
//   (§10.2.1).
import EtcdProto

/// The role a member plays in its current term.
public enum RaftRole: Sendable, Equatable {
  case follower
  case preCandidate
  case candidate
  case leader
}

/// Why a request from the caller was not taken.
public enum RaftError: Error, Equatable {
  /// No leader is known, so a proposal or read has nowhere to go.
  case noLeader
  /// A leadership transfer is in progress; proposals wait for the new leader.
  case leaderTransferring
  /// Forwarding is disabled and this member is not the leader.
  case notLeader(leader: UInt64)
  /// An earlier membership change is not applied yet.
  case confChangePending
  /// The member was removed from the cluster.
  case notMember
}

/// A proposal this member forwarded that the receiver could not take. It was
/// never appended anywhere, so the caller may fail it (or retry) at once.
public struct DroppedProposal: Equatable {
  public var entries: [Raftpb_Entry]
  public var reason: RaftError
}

extension RaftError {
  /// How the reason travels in a MsgPropDropped (`rejectHint`, and the known
  /// leader in `index`).
  var wireCode: UInt64 {
    switch self {
    case .noLeader: 1
    case .leaderTransferring: 2
    case .notLeader: 3
    case .confChangePending: 4
    case .notMember: 5
    }
  }

  init(wireCode: UInt64, leader: UInt64) {
    switch wireCode {
    case 2: self = .leaderTransferring
    case 3: self = .notLeader(leader: leader)
    case 4: self = .confChangePending
    case 5: self = .notMember
    default: self = .noLeader
    }
  }
}

/// A linearizable read made safe: once `index` is applied, reading local state
/// answers the request that carried `requestContext`.
public struct ReadState: Sendable, Equatable {
  public var index: UInt64
  public var requestContext: [UInt8]
}

/// The core state machine. Use it through `RawNode`.
final class Raft {
  let id: UInt64
  var term: UInt64 = 0
  var vote: UInt64 = 0
  var log: RaftLog
  var role = RaftRole.follower
  var lead: UInt64 = 0

  /// Members that vote and count toward quorums, sorted so every iteration
  /// is deterministic.
  var voters: [UInt64] = []
  /// Members that receive the log but never vote (§4.2.1).
  var learners: [UInt64] = []
  var progress: [UInt64: Progress] = [:]
  /// Votes received in the current election: true granted, false rejected.
  var votes: [UInt64: Bool] = [:]

  /// Messages that may leave at once (a leader's appends, §10.2.1).
  var messages: [Raftpb_Message] = []
  /// Messages that promise durable state (votes, append acks): they leave only
  /// after the Ready that produced them is synced.
  var messagesAfterSync: [Raftpb_Message] = []
  var readStates: [ReadState] = []
  var droppedProposals: [DroppedProposal] = []

  var electionElapsed = 0
  var heartbeatElapsed = 0
  var randomizedElectionTimeout = 0
  let heartbeatTimeout: Int
  let electionTimeout: Int
  let maxInflight: Int
  let preVote: Bool
  let checkQuorum: Bool
  let disableProposalForwarding: Bool
  var rng: SplitMix64

  /// The member a leadership transfer goes to, 0 if none.
  var leadTransferee: UInt64 = 0
  /// Log index of the newest conf change a leader appended; another may be
  /// proposed only once this is applied.
  var pendingConfIndex: UInt64 = 0
  var readIndex = ReadIndexQueue()

  init(config: RaftConfig, storage: MemoryStorage) {
    precondition(config.heartbeatTicks > 0, "heartbeat must be at least one tick")
    precondition(
      config.electionTicks > config.heartbeatTicks,
      "election ticks (\(config.electionTicks)) must exceed heartbeat ticks")
    id = config.id
    heartbeatTimeout = config.heartbeatTicks
    electionTimeout = config.electionTicks
    maxInflight = config.maxInflightMessages
    preVote = config.preVote
    checkQuorum = config.checkQuorum
    disableProposalForwarding = config.disableProposalForwarding
    rng = SplitMix64(seed: config.randomSeed)
    log = RaftLog(storage: storage, maxEntriesSize: config.maxEntriesSizePerMessage)
    let hardState = storage.hardState
    applyConfState(storage.confState)
    if hardState.commit != 0 || hardState.term != 0 {
      precondition(
        hardState.commit >= log.committed && hardState.commit <= log.lastIndex,
        "hard state commit \(hardState.commit) outside [\(log.committed), \(log.lastIndex)]")
      term = hardState.term
      vote = hardState.vote
      log.committed = hardState.commit
    }
    becomeFollower(term: term, leader: 0)
  }

  var hardState: Raftpb_HardState {
    var state = Raftpb_HardState()
    state.term = term
    state.vote = vote
    state.commit = log.committed
    return state
  }

  var quorum: Int { voters.count / 2 + 1 }

  func isVoter(_ member: UInt64) -> Bool { voters.contains(member) }

  /// Learners and removed members never campaign; neither does a member still
  /// installing a snapshot.
  var isPromotable: Bool { isVoter(id) && log.unstable.snapshot == nil }

  // MARK: role transitions

  private func reset(term newTerm: UInt64) {
    if term != newTerm {
      term = newTerm
      vote = 0
    }
    lead = 0
    electionElapsed = 0
    heartbeatElapsed = 0
    randomizedElectionTimeout = electionTimeout + Int(rng.next() % UInt64(electionTimeout))
    leadTransferee = 0
    votes = [:]
    readIndex = ReadIndexQueue()
    pendingConfIndex = 0
    let next = log.lastIndex + 1
    for member in progress.keys {
      var pr = Progress(
        next: next, inflightCapacity: maxInflight, isLearner: progress[member]!.isLearner)
      if member == id { pr.match = log.stableIndex }
      progress[member] = pr
    }
  }

  func becomeFollower(term: UInt64, leader: UInt64) {
    reset(term: term)
    lead = leader
    role = .follower
  }

  func becomePreCandidate() {
    precondition(role != .leader, "a leader cannot become pre-candidate")
    // A pre-vote changes neither term nor vote (§9.6): nothing to persist.
    votes = [:]
    lead = 0
    role = .preCandidate
  }

  func becomeCandidate() {
    precondition(role != .leader, "a leader cannot become candidate")
    reset(term: term + 1)
    vote = id
    role = .candidate
  }

  func becomeLeader() {
    precondition(role == .candidate, "only a candidate becomes leader (was \(role))")
    reset(term: term)
    lead = id
    role = .leader
    progress[id]?.becomeReplicate()
    // Every conf change in the log may still be unapplied; wait for all.
    pendingConfIndex = log.lastIndex
    // §8: a new leader commits an entry of its own term at once, which also
    // commits everything before it and lets ReadIndex start.
    var noop = Raftpb_Entry()
    noop.term = term
    noop.index = log.lastIndex + 1
    appendEntries([noop])
    broadcastAppend()
  }

  // MARK: ticks

  func tick() {
    switch role {
    case .leader: tickHeartbeat()
    case .follower, .preCandidate, .candidate: tickElection()
    }
  }

  private func tickElection() {
    electionElapsed += 1
    if isPromotable && electionElapsed >= randomizedElectionTimeout {
      electionElapsed = 0
      hup(transfer: false)
    }
  }

  private func tickHeartbeat() {
    heartbeatElapsed += 1
    electionElapsed += 1
    if electionElapsed >= electionTimeout {
      electionElapsed = 0
      if checkQuorum && !hasActiveQuorum() {
        becomeFollower(term: term, leader: 0)
        return
      }
      // A transfer that did not finish within an election timeout is abandoned.
      leadTransferee = 0
    }
    if heartbeatElapsed >= heartbeatTimeout {
      heartbeatElapsed = 0
      broadcastHeartbeat()
    }
  }

  /// §6.2 check quorum: did a quorum of voters talk to us since the last
  /// check? Resets the activity marks for the next round.
  private func hasActiveQuorum() -> Bool {
    var active = 0
    for member in voters {
      if member == id || progress[member]!.recentActive { active += 1 }
    }
    for member in progress.keys where member != id {
      progress[member]!.recentActive = false
    }
    return active >= quorum
  }

  // MARK: sending

  func send(_ message: Raftpb_Message) {
    var m = message
    // A forwarded request keeps its origin: a follower forwards a transfer
    // whose `from` names the transferee, not itself.
    if m.from == 0 { m.from = id }
    // Forwarded requests and their refusals carry no term: they are not Raft
    // protocol messages and must not move anyone's term.
    if m.term == 0 && m.type != .msgProp && m.type != .msgReadIndex && m.type != .msgPropDropped {
      m.term = term
    }
    switch m.type {
    case .msgApp, .msgHeartbeat, .msgSnap, .msgTimeoutNow, .msgProp, .msgReadIndex,
      .msgReadIndexResp, .msgPreVote:
      // These promise nothing about our durable state: appends may go before
      // the leader's own fsync (§10.2.1); a pre-vote changes no state.
      messages.append(m)
    default:
      // Votes and append/heartbeat acks report state the receiver relies on
      // (our vote, our log); they leave only once that state is durable.
      messagesAfterSync.append(m)
    }
  }
}
