import EtcdProto

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A Txn's guard, evaluated as etcd 3.4's applyCompare does.
public enum TxnCompare {
  /// Whether `compare` holds over `kvs`, the current versions of the keys in
  /// its range (`key` alone, or `[key, range_end)` with `"\0"` meaning every
  /// key from `key` on).
  ///
  /// Every key found must satisfy it. When none is found the compare is made
  /// against an absent key: version, create and mod revision and lease 0,
  /// and a VALUE compare fails whatever its operator, since protobuf cannot
  /// tell an empty value from a missing one. A target value of another kind
  /// than the target (e.g. a `version` for a VALUE compare) counts as 0 or
  /// empty. An operator this code does not know passes, as in etcd.
  public static func holds(_ compare: Etcdserverpb_Compare, over kvs: [Mvccpb_KeyValue]) -> Bool {
    guard !kvs.isEmpty else {
      return compare.target == .value ? false : holds(compare, for: Mvccpb_KeyValue())
    }
    return kvs.allSatisfy { holds(compare, for: $0) }
  }

  static func holds(_ compare: Etcdserverpb_Compare, for kv: Mvccpb_KeyValue) -> Bool {
    let order: Int
    switch (compare.target, compare.targetUnion) {
    case (.value, .value(let wanted)?): order = KeyOrder.compare(kv.value, wanted)
    case (.value, _): order = KeyOrder.compare(kv.value, Data())
    case (.version, .version(let wanted)?): order = sign(kv.version, wanted)
    case (.version, _): order = sign(kv.version, 0)
    case (.create, .createRevision(let wanted)?): order = sign(kv.createRevision, wanted)
    case (.create, _): order = sign(kv.createRevision, 0)
    case (.mod, .modRevision(let wanted)?): order = sign(kv.modRevision, wanted)
    case (.mod, _): order = sign(kv.modRevision, 0)
    case (.lease, .lease(let wanted)?): order = sign(kv.lease, wanted)
    case (.lease, _): order = sign(kv.lease, 0)
    case (.UNRECOGNIZED, _): order = 0
    }
    switch compare.result {
    case .equal: return order == 0
    case .notEqual: return order != 0
    case .greater: return order > 0
    case .less: return order < 0
    case .UNRECOGNIZED: return true
    }
  }

  private static func sign(_ actual: Int64, _ wanted: Int64) -> Int {
    actual < wanted ? -1 : (actual > wanted ? 1 : 0)
  }
}
