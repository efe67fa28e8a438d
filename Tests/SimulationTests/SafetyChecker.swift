import EtcdProto
import Raft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Raft's safety properties (thesis Figure 3.2), checked as the run goes.
struct SafetyChecker {
  /// Election Safety: the one leader seen for each term.
  var leaders: [UInt64: UInt64] = [:]
  /// Log Matching, checked inductively: an (index, term) pair seen in any
  /// member's durable log determines the entry's data and the previous term.
  var logEntries: [UInt64: [UInt64: (data: Data, previousTerm: UInt64?)]] = [:]
  /// State Machine Safety: the one entry applied at each index.
  var appliedAt: [UInt64: Raftpb_Entry] = [:]
  var violations: [String] = []

  mutating func checkLeaders(_ nodes: [SimNode], log: (String) -> Void) throws {
    for node in nodes {
      guard let raft = node.raft, raft.role == .leader else { continue }
      if let known = leaders[raft.term] {
        if known != node.id {
          violations.append(
            "Election Safety: members \(known) and \(node.id) both lead term \(raft.term)")
        }
        continue
      }
      leaders[raft.term] = node.id
      log("member \(node.id) leads term \(raft.term)")
      checkLeaderCompleteness(node)
    }
    try throwIfViolated(log: log)
  }

  /// Leader Completeness: a new leader's log holds every entry applied (so
  /// committed) anywhere so far.
  private mutating func checkLeaderCompleteness(_ node: SimNode) {
    let storage = node.storage
    for (index, entry) in appliedAt where index >= storage.firstIndex {
      let term = try? storage.term(index)
      // The leader's own entries may still be in its unsynced tail.
      if term == nil && index > storage.lastIndex && index > node.raft!.lastIndex { continue }
      if term != entry.term && index <= storage.lastIndex {
        violations.append(
          "Leader Completeness: leader \(node.id) of term \(node.raft!.term) has term "
            + "\(term.map(String.init) ?? "none") at committed index \(index) (term \(entry.term))")
      }
    }
    if let highest = appliedAt.keys.max(), highest > node.raft!.lastIndex {
      violations.append(
        "Leader Completeness: leader \(node.id) ends at \(node.raft!.lastIndex) below "
          + "committed index \(highest)")
    }
  }

  mutating func persisted(_ entries: [Raftpb_Entry], previousTerm: UInt64?, member: UInt64) throws {
    var previous = previousTerm
    for entry in entries {
      if let seen = logEntries[entry.index]?[entry.term] {
        if seen.data != entry.data
          || (seen.previousTerm != nil && previous != nil && seen.previousTerm != previous)
        {
          violations.append(
            "Log Matching: member \(member) holds a different entry \(entry.index)/\(entry.term)")
        }
      } else {
        logEntries[entry.index, default: [:]][entry.term] = (entry.data, previous)
      }
      previous = entry.term
    }
  }

  mutating func applied(_ entry: Raftpb_Entry, member: UInt64) {
    if let seen = appliedAt[entry.index] {
      if seen.term != entry.term || seen.data != entry.data {
        violations.append(
          "State Machine Safety: member \(member) applied \(entry.index)/\(entry.term), "
            + "another applied \(seen.index)/\(seen.term)")
      }
    } else {
      appliedAt[entry.index] = entry
    }
  }

  func throwIfViolated(log: (String) -> Void) throws {
    if let first = violations.first {
      log("VIOLATION " + first)
      throw SimFailure(message: first)
    }
  }
}
