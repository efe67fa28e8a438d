import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Runs the seeded simulator: `SWETCD_SIM_SEEDS` seeds in all (1,000 by
/// default), spread over clusters of 1, 3 and 5 members; `SWETCD_SIM_SEED=N`
/// replays one seed and prints its trace.
@Suite("Deterministic cluster simulation")
struct SimulationTests {
  static var seedCount: UInt64 {
    getenv("SWETCD_SIM_SEEDS").flatMap { UInt64(String(cString: $0)) } ?? 1000
  }

  static func members(for seed: UInt64) -> Int { [1, 3, 3, 5, 5][Int(seed % 5)] }

  /// Seeds are split into shards that Swift Testing runs in parallel.
  static let shards = 4

  @Test("safety and linearizability hold on every seed", arguments: 0..<shards)
  func seeds(shard: Int) throws {
    if let one = getenv("SWETCD_SIM_SEED").flatMap({ UInt64(String(cString: $0)) }) {
      guard shard == 0 else { return }
      let failure = runSeed(one, tracing: true)
      #expect(failure == nil, "\(failure ?? "")")
      return
    }
    let mine = (1...Self.seedCount).filter { Int($0 % UInt64(Self.shards)) == shard }
    if getenv("SWETCD_SIM_SUMMARY") != nil {
      for seed in mine {
        let sim = try Simulator(
          config: SimConfig.random(seed: seed, members: Self.members(for: seed)))
        try sim.run()
        print("seed \(seed) members \(sim.config.members): \(sim.summary)")
      }
      return
    }
    var failures: [String] = []
    for seed in mine {
      if let failure = runSeed(seed, tracing: false) {
        // Replay with tracing to show how it happened.
        let traced = runSeed(seed, tracing: true) ?? failure
        failures.append(traced)
        if failures.count >= 3 { break }
      }
    }
    #expect(failures.isEmpty, "\(failures.joined(separator: "\n\n"))")
  }

  /// Nil when the seed passes; otherwise the seed, the failure and the end
  /// of its trace.
  func runSeed(_ seed: UInt64, tracing: Bool) -> String? {
    let config = SimConfig.random(seed: seed, members: Self.members(for: seed))
    var sim: Simulator?
    do {
      let simulator = try Simulator(config: config, tracing: tracing)
      sim = simulator
      try simulator.run()
      switch checkLinearizable(simulator.history.checkable, timeLimit: .seconds(20)) {
      case .ok:
        return nil
      case .unknown:
        return report(seed, config, "linearizability check timed out", sim)
      case .illegal(let why):
        return report(seed, config, "not linearizable: \(why)", sim)
      }
    } catch {
      return report(seed, config, "\(error)", sim)
    }
  }

  private func report(_ seed: UInt64, _ config: SimConfig, _ what: String, _ sim: Simulator?)
    -> String
  {
    var text = "seed \(seed) (\(config)) failed: \(what)"
    text += "\nreplay: SWETCD_SIM_SEED=\(seed) swift test --filter SimulationTests"
    if let trace = sim?.trace {
      let path = "/tmp/swetcd-sim-\(seed).trace"
      if let file = fopen(path, "w") {
        fputs(trace.joined(separator: "\n") + "\n", file)
        fclose(file)
        text += "\nfull trace: \(path)"
      }
      text += "\n--- last 200 trace lines ---\n" + trace.suffix(200).joined(separator: "\n")
    }
    return text
  }
}
