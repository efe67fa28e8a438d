import Raft

extension Simulator {
  func injectFaults() {
    if chance(config.partitionRate) && cut.isEmpty { startPartition() }
    if chance(config.crashRate) {
      let alive = nodes.filter { $0.isAlive && !$0.removed }
      // Keep crashes survivable often enough that the run makes progress.
      if alive.count > 1 || config.members == 1, let victim = alive.randomElement(using: &rng) {
        log("crash \(victim.id)")
        crash(victim)
      }
    }
    for node in nodes where !node.isAlive && !node.removed && chance(0.01) {
      restart(node)
    }
    if chance(0.0005), let leader = nodes.first(where: { $0.raft?.role == .leader }) {
      let target = UInt64(1 + Int(rng.next() % UInt64(config.members)))
      log("transfer leadership \(leader.id) -> \(target)")
      leader.raft!.transferLeader(to: target)
    }
    if chance(config.membershipRate) { changeMembership() }
  }

  func crash(_ node: SimNode) {
    node.crash()
    history.memberCrashed(node.id)
  }

  func restart(_ node: SimNode) {
    log("restart \(node.id)")
    do {
      try node.start()
    } catch {
      checker.violations.append("member \(node.id) cannot restart: \(error)")
    }
  }

  private func startPartition() {
    var ids = nodes.map(\.id)
    ids.shuffle(using: &rng)
    let split = 1 + Int(rng.next() % UInt64(ids.count - 1))
    let side = Set(ids[..<split])
    for a in ids {
      for b in ids where side.contains(a) != side.contains(b) {
        cut.insert([a, b])
      }
    }
    // Sometimes only one direction is cut: asymmetric links are the hard case
    // for check quorum and pre-vote.
    if chance(0.3) {
      cut = cut.filter { side.contains($0[0]) }
    }
    partitionEndsAt = now + 50 + Int(rng.next() % 800)
    log("partition \(side.sorted()) | rest, until \(partitionEndsAt)")
  }

  func healPartition() {
    guard !cut.isEmpty else { return }
    log("heal partition")
    cut = []
  }

  func healAll() {
    healPartition()
    for node in nodes where !node.isAlive && !node.removed { restart(node) }
  }
}
