/// Counters served at /v2/stats/store, with etcd's JSON names and order.
///
/// Like etcd's, they are local to a member (reads are not replicated) and are not
/// part of snapshots.
public struct StoreStats: Equatable, Sendable {
  public var getsSuccess: UInt64 = 0
  public var getsFail: UInt64 = 0
  public var setsSuccess: UInt64 = 0
  public var setsFail: UInt64 = 0
  public var deleteSuccess: UInt64 = 0
  public var deleteFail: UInt64 = 0
  public var updateSuccess: UInt64 = 0
  public var updateFail: UInt64 = 0
  public var createSuccess: UInt64 = 0
  public var createFail: UInt64 = 0
  public var compareAndSwapSuccess: UInt64 = 0
  public var compareAndSwapFail: UInt64 = 0
  public var compareAndDeleteSuccess: UInt64 = 0
  public var compareAndDeleteFail: UInt64 = 0
  public var expireCount: UInt64 = 0
  public var watchers: UInt64 = 0

  public init() {}

  /// `{"getsSuccess":N,...,"watchers":N}` in etcd's field order.
  public var json: String {
    let fields: [(String, UInt64)] = [
      ("getsSuccess", getsSuccess), ("getsFail", getsFail),
      ("setsSuccess", setsSuccess), ("setsFail", setsFail),
      ("deleteSuccess", deleteSuccess), ("deleteFail", deleteFail),
      ("updateSuccess", updateSuccess), ("updateFail", updateFail),
      ("createSuccess", createSuccess), ("createFail", createFail),
      ("compareAndSwapSuccess", compareAndSwapSuccess),
      ("compareAndSwapFail", compareAndSwapFail),
      ("compareAndDeleteSuccess", compareAndDeleteSuccess),
      ("compareAndDeleteFail", compareAndDeleteFail),
      ("expireCount", expireCount), ("watchers", watchers),
    ]
    return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
  }

  mutating func count(_ action: Action, success: Bool) {
    switch (action, success) {
    case (.get, true): getsSuccess += 1
    case (.get, false): getsFail += 1
    case (.set, true): setsSuccess += 1
    case (.set, false): setsFail += 1
    case (.delete, true): deleteSuccess += 1
    case (.delete, false): deleteFail += 1
    case (.update, true): updateSuccess += 1
    case (.update, false): updateFail += 1
    case (.create, true): createSuccess += 1
    case (.create, false): createFail += 1
    case (.compareAndSwap, true): compareAndSwapSuccess += 1
    case (.compareAndSwap, false): compareAndSwapFail += 1
    case (.compareAndDelete, true): compareAndDeleteSuccess += 1
    case (.compareAndDelete, false): compareAndDeleteFail += 1
    case (.expire, _): expireCount += 1
    }
  }
}
