/// The settings of one Raft member. Times are counted in ticks: the caller
/// decides how long a tick is (the heartbeat interval in swetcd).
public struct RaftConfig: Sendable {
  /// This member's ID; never 0 (0 means "none" on the wire).
  public var id: UInt64
  /// Ticks between heartbeats from a leader.
  public var heartbeatTicks = 1
  /// Ticks without word from a leader before a follower campaigns. Each
  /// member waits a random number of ticks in `[electionTicks, 2*electionTicks)`.
  public var electionTicks = 10
  /// Largest batch of entries in one append, in encoded bytes (at least one
  /// entry is always sent).
  public var maxEntriesSizePerMessage: UInt64 = 1 << 20
  /// Appends in flight to one follower before the leader waits for acks.
  public var maxInflightMessages = 256
  /// Run a pre-vote round before raising the term (thesis §9.6), so a member
  /// returning from a partition does not disrupt a healthy leader.
  public var preVote = true
  /// A leader steps down after an election timeout without hearing from a
  /// quorum, and followers ignore votes while they hear from a leader (§6.2).
  public var checkQuorum = true
  /// Refuse proposals on followers instead of forwarding them to the leader,
  /// so the caller can forward them itself and learn their fate.
  public var disableProposalForwarding = false
  /// Seeds the election-timeout randomness, so simulations replay exactly.
  public var randomSeed: UInt64

  public init(id: UInt64, randomSeed: UInt64? = nil) {
    precondition(id != 0, "a Raft member ID cannot be 0")
    self.id = id
    self.randomSeed = randomSeed ?? id
  }
}

/// SplitMix64: a tiny deterministic generator, so elections replay exactly
/// from a seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
  private var state: UInt64

  public init(seed: UInt64) {
    state = seed
  }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
