import EtcdProto
import Raft
import Testing

@testable import Server

@Suite("Raft driver: the Ready cycle with the disk elsewhere")
struct RaftDriverTests {
  /// A disk whose syncs complete only when the test says so.
  final class ManualDisk {
    var pending: [(entries: [Raftpb_Entry], completion: (Error?) -> Void)] = []
    var persistedEntries: [[Raftpb_Entry]] = []

    var persist: RaftDriver.Persist {
      { _, entries, _, completion in self.pending.append((entries, completion)) }
    }

    func completeAll() {
      while !pending.isEmpty {
        let job = pending.removeFirst()
        persistedEntries.append(job.entries)
        job.completion(nil)
      }
    }
  }

  final class Applied {
    var data: [String] = []
  }

  func makeDriver(disk: ManualDisk, applied: Applied) -> RaftDriver {
    let storage = MemoryStorage()
    var config = RaftConfig(id: 1)
    config.electionTicks = 10
    let node = RawNode(config: config, storage: storage, peers: [1])
    return RaftDriver(
      node: node, raftStorage: storage, persist: disk.persist,
      callbacks: .init(
        send: { _ in }, applySnapshot: { _ in },
        apply: { entries in
          applied.data += entries.filter { $0.type == .entryNormal && !$0.data.isEmpty }
            .map { String(decoding: $0.data, as: UTF8.self) }
        }, fatal: { error in Issue.record("fatal: \(error)") }))
  }

  /// A single-member driver ticked (syncing after each tick) until it leads.
  func electedDriver(disk: ManualDisk, applied: Applied) -> RaftDriver {
    let driver = makeDriver(disk: disk, applied: applied)
    driver.pump()
    disk.completeAll()
    for _ in 0..<25 where driver.node.role != .leader {
      driver.tick()
      disk.completeAll()
    }
    return driver
  }

  @Test("one member elects itself and applies proposals after they are synced")
  func singleMember() throws {
    let disk = ManualDisk()
    let applied = Applied()
    let driver = electedDriver(disk: disk, applied: applied)
    #expect(driver.node.role == .leader)
    try driver.propose(Array("a".utf8))
    #expect(applied.data.isEmpty, "nothing applies before its sync")
    disk.completeAll()
    #expect(applied.data == ["a"])
  }

  @Test("proposals that arrive during a sync share the next one (group commit)")
  func groupCommit() throws {
    let disk = ManualDisk()
    let applied = Applied()
    let driver = electedDriver(disk: disk, applied: applied)
    try driver.propose(Array("first".utf8))
    #expect(disk.pending.count == 1)
    for i in 0..<50 { try driver.propose(Array("batched \(i)".utf8)) }
    #expect(disk.pending.count == 1, "no second Ready while one is at the disk")
    let syncsBefore = disk.persistedEntries.count
    disk.completeAll()
    let batches = disk.persistedEntries[syncsBefore...].filter { !$0.isEmpty }
    #expect(batches.map(\.count) == [1, 50])
    #expect(applied.data.count == 51)
  }

  @Test("a failed sync stops the cycle and reports it")
  func failedSync() throws {
    struct DiskFull: Error {}
    var fatal: Error?
    let storage = MemoryStorage()
    let node = RawNode(config: RaftConfig(id: 1), storage: storage, peers: [1])
    let driver = RaftDriver(
      node: node, raftStorage: storage, persist: { _, _, _, completion in completion(DiskFull()) },
      callbacks: .init(
        send: { _ in }, applySnapshot: { _ in }, apply: { _ in Issue.record("applied") },
        fatal: { fatal = $0 }))
    driver.pump()
    #expect(fatal is DiskFull)
    driver.tick()
    #expect(storage.lastIndex == 0, "nothing reaches raft storage after a failed sync")
  }
}
