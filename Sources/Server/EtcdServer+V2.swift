import EtcdProto
import Net
import V2Store

/// Applying v2 requests and keeping etcd's v2 bookkeeping (members under
/// "/0", so user indexes match etcd's), plus key expiry driven by the leader.
extension EtcdServer {
  static let userPrefix = "/1"

  func applyV2(_ request: Swetcdpb_V2Request, id: UInt64, time: Int64, entry: Raftpb_Entry) {
    let now = StoreTime(nanosecondsSinceEpoch: time)
    let key = Self.userPrefix + request.path
    let ttl = request.hasTtl ? request.ttl : nil
    if request.method == "SYNC" {
      _ = v2Store.expire(now: now)
      waiters.trigger(id, .done)
      deliverV2Notifications()
      return
    }
    let result: Result<Event, V2Error>
    do throws(V2Error) {
      switch request.method {
      case "PUT":
        result = .success(
          try v2Store.put(
            SetRequest(
              key: key, value: request.value, dir: request.dir, ttl: ttl,
              prevExist: request.hasPrevExist ? request.prevExist : nil,
              prevValue: request.prevValue, prevIndex: request.prevIndex,
              refresh: request.refresh), now: now))
      case "POST":
        result = .success(
          try v2Store.createInOrder(key, dir: request.dir, value: request.value, ttl: ttl, now: now)
        )
      case "DELETE":
        result = .success(
          try v2Store.delete(
            DeleteRequest(
              key: key, dir: request.dir, recursive: request.recursive,
              prevValue: request.prevValue, prevIndex: request.prevIndex), now: now))
      case "QGET":
        result = .success(try v2Store.get(key, recursive: request.recursive, now: now))
      default:
        result = .failure(V2Error(.invalidForm, cause: request.method, index: v2Store.currentIndex))
      }
    } catch {
      result = .failure(error)
    }
    waiters.trigger(id, .v2(result, raftIndex: entry.index, raftTerm: entry.term))
    deliverV2Notifications()
  }

  /// etcd records each member's raft attributes in the v2 store when the
  /// member is added.
  func recordMemberInV2Store(_ member: Member) {
    let value =
      "{\"peerURLs\":" + Member.list(member.peerURLs)
      + (member.isLearner ? ",\"isLearner\":true}" : "}")
    _ = try? v2Store.set(
      "/0/members/\(MemberID.format(member.id))/raftAttributes", dir: false, value: value,
      ttl: nil, now: StoreTime(nanosecondsSinceEpoch: 0))
  }

  /// etcd validates every membership change against the members recorded
  /// in the v2 store, which reads them (and shows in the store's get
  /// counters): the members, then, if there are any, the removed ones.
  func readMembersForValidation() {
    let now = StoreTime(nanosecondsSinceEpoch: 0)
    guard (try? v2Store.get("/0/members", recursive: true, now: now)) != nil else { return }
    _ = try? v2Store.get("/0/removed_members", recursive: true, now: now)
  }

  /// A removed member's records go, and its ID is kept as removed.
  func recordRemovalInV2Store(_ id: UInt64) {
    let now = StoreTime(nanosecondsSinceEpoch: 0)
    _ = try? v2Store.delete(
      DeleteRequest(key: "/0/members/\(MemberID.format(id))", dir: true, recursive: true), now: now)
    _ = try? v2Store.create(
      "/0/removed_members/\(MemberID.format(id))", dir: false, value: "", ttl: nil, now: now)
  }

  /// ... and its published attributes; the first publish also records the
  /// cluster version, as etcd's leader does once the cluster is up.
  func recordPublishInV2Store(_ attributes: Swetcdpb_MemberAttributes, time: Int64) {
    let now = StoreTime(nanosecondsSinceEpoch: time)
    let value =
      "{\"name\":" + V2JSON.quoted(attributes.name) + ",\"clientURLs\":"
      + Member.list(attributes.clientUrls) + "}"
    _ = try? v2Store.set(
      "/0/members/\(MemberID.format(attributes.memberID))/attributes", dir: false, value: value,
      ttl: nil, now: now)
    if !v2Store.contains("/0/version") {
      _ = try? v2Store.create(
        "/0/version", dir: false, value: Self.clusterVersion, ttl: nil, now: now)
    }
    deliverV2Notifications()
  }

  /// The leader proposes expiry with its own clock twice a second, so every
  /// member expires the same keys at the same index.
  func startExpiring() {
    syncTimer = LoopTimer.every(500, on: loop) { [weak self] in
      guard let self, isLeader, let next = v2Store.nextExpiration else { return }
      let now = ServerClock.wallNanoseconds()
      guard next.nanosecondsSinceEpoch <= now else { return }
      var request = Swetcdpb_InternalRequest()
      request.time = now
      request.v2.method = "SYNC"
      propose(request, timeoutMs: 5000) { _ in }
    }
  }

  func v2StoreSnapshot() -> [UInt8] { v2Store.snapshot() }

  func restoreV2Store(_ bytes: [UInt8]) throws {
    try v2Store.restore(from: bytes)
  }

  func v2StoreStatsJSON() -> String { v2Store.stats.json }
}
