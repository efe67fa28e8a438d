import EtcdProto
import MVCC

/// etcd's alarms: which member raised which alarm (NOSPACE, CORRUPT).
/// Changed only by applying log entries, so every member holds the same
/// set; kept in the backend's "alarm" bucket, one row per alarm whose key
/// is the encoded `AlarmMember` and whose value is empty, as etcd keeps
/// them, so the rows commit with the rest of the applied state.
struct AlarmStore {
  private var active: [AlarmKey: Etcdserverpb_AlarmMember] = [:]

  private struct AlarmKey: Hashable {
    var alarm: Int
    var memberID: UInt64
  }

  /// Replaces the alarms with those a backend holds (at start, or when a
  /// backend from a snapshot replaces the old one).
  mutating func load(_ mvcc: MVCCStore) throws(MVCCError) {
    let found = try mvcc.environment.read { txn throws(MVCCError) -> [Etcdserverpb_AlarmMember] in
      var found: [Etcdserverpb_AlarmMember] = []
      try txn.forEach(mvcc.buckets.alarm) { key, _ throws(MVCCError) in
        guard let member = try? Etcdserverpb_AlarmMember(serializedBytes: Array(key)) else {
          throw .corrupt(reason: "undecodable row in the alarm bucket")
        }
        found.append(member)
        return true
      }
      return found
    }
    active = [:]
    for member in found { active[Self.key(member)] = member }
  }

  /// The alarms of type `type`, or all of them for `.none`; ordered by
  /// type, then member (etcd's order is its map's, i.e. none).
  func get(_ type: Etcdserverpb_AlarmType) -> [Etcdserverpb_AlarmMember] {
    active.values.filter { type == .none || $0.alarm == type }.sorted {
      ($0.alarm.rawValue, $0.memberID) < ($1.alarm.rawValue, $1.memberID)
    }
  }

  func isActive(_ type: Etcdserverpb_AlarmType) -> Bool {
    active.keys.contains { $0.alarm == type.rawValue }
  }

  /// Raises `type` for `memberID`; the alarm, already raised or new. nil
  /// for NONE from member 0: its row would have an empty key, which the
  /// backend refuses (etcd 3.4 stops every member on it, at each replay).
  mutating func activate(_ memberID: UInt64, _ type: Etcdserverpb_AlarmType, _ mvcc: MVCCStore)
    throws(V3Error) -> Etcdserverpb_AlarmMember?
  {
    var member = Etcdserverpb_AlarmMember()
    member.memberID = memberID
    member.alarm = type
    if Self.row(member).isEmpty { return nil }
    if let existing = active[Self.key(member)] { return existing }
    try write(mvcc) { txn, bucket throws(MVCCError) in
      try txn.put(bucket, Self.row(member), [])
    }
    active[Self.key(member)] = member
    return member
  }

  /// Clears `type` for `memberID`; the cleared alarm, nil if it was not raised.
  mutating func deactivate(_ memberID: UInt64, _ type: Etcdserverpb_AlarmType, _ mvcc: MVCCStore)
    throws(V3Error) -> Etcdserverpb_AlarmMember?
  {
    let key = AlarmKey(alarm: type.rawValue, memberID: memberID)
    guard let member = active[key] else { return nil }
    try write(mvcc) { txn, bucket throws(MVCCError) in
      _ = try txn.delete(bucket, Self.row(member))
    }
    active[key] = nil
    return member
  }

  private func write(
    _ mvcc: MVCCStore, _ body: (LMDBTransaction, LMDBBucket) throws(MVCCError) -> Void
  ) throws(V3Error) {
    do {
      try mvcc.withWriteTransaction { txn throws(MVCCError) in
        try body(txn, mvcc.buckets.alarm)
      }
    } catch {
      throw V3Error(error)
    }
  }

  private static func key(_ member: Etcdserverpb_AlarmMember) -> AlarmKey {
    AlarmKey(alarm: member.alarm.rawValue, memberID: member.memberID)
  }

  private static func row(_ member: Etcdserverpb_AlarmMember) -> [UInt8] {
    // Two scalar fields: encoding cannot fail.
    (try? member.serializedBytes()) ?? []
  }
}

extension Etcdserverpb_AlarmMember {
  /// The text etcd prints for an alarm (Go's compact protobuf text:
  /// non-default fields as `name:value`, each followed by a space), which
  /// `etcdctl alarm list` and Status' `errors` show.
  var etcdText: String {
    var text = ""
    if memberID != 0 { text += "memberID:\(memberID) " }
    if alarm != .none { text += "alarm:\(alarm.etcdName) " }
    return text
  }
}
