import Testing
import V2Store

/// The store as etcd 3.4's server holds it: namespaces "/0" (members) and "/1" (user
/// keys), with the three bootstrap writes a fresh single-member etcd applies to "/0",
/// so that the first user write gets index 4 as on the real server.
final class Harness {
  let store = V2Store(namespaces: ["/0", "/1"])
  var now: StoreTime

  /// 2026-11-22T03:14:32Z, the second the golden responses were recorded in.
  static let recordedSecond: Int64 = 1_795_317_272

  init(now: StoreTime = StoreTime(secondsSinceEpoch: Harness.recordedSecond)) {
    self.now = now
    // Two sets and one create, as etcd's stats counters show after bootstrap.
    _ = try! store.set("/0/members/1/raftAttributes", dir: false, value: "{}", ttl: nil, now: now)
    _ = try! store.set("/0/members/1/attributes", dir: false, value: "{}", ttl: nil, now: now)
    _ = try! store.create("/0/version", dir: false, value: "3.4.0", ttl: nil, now: now)
  }

  /// The time within the recorded second, from the fraction etcd printed.
  func at(nanos: Int64) {
    now = StoreTime(nanosecondsSinceEpoch: Harness.recordedSecond * 1_000_000_000 + nanos)
  }

  /// The JSON body etcd would answer, for success and error alike.
  func respond(noValueOnSuccess: Bool = false, _ body: () throws(V2Error) -> Event) -> String {
    do {
      return V2JSON.encode(try body(), trimmingPrefix: "/1", noValueOnSuccess: noValueOnSuccess)
    } catch {
      return V2JSON.encode(error, trimmingPrefix: "/1")
    }
  }

  func put(
    _ key: String, _ value: String = "", dir: Bool = false, ttl: Int64? = nil,
    prevExist: Bool? = nil, prevValue: String = "", prevIndex: UInt64 = 0, refresh: Bool = false,
    noValueOnSuccess: Bool = false
  ) -> String {
    let request = SetRequest(
      key: "/1" + key, value: value, dir: dir, ttl: ttl, prevExist: prevExist,
      prevValue: prevValue, prevIndex: prevIndex, refresh: refresh)
    return respond(noValueOnSuccess: noValueOnSuccess) { () throws(V2Error) in
      try store.put(request, now: now)
    }
  }

  func get(_ key: String, recursive: Bool = false) -> String {
    respond { () throws(V2Error) in try store.get("/1" + key, recursive: recursive, now: now) }
  }

  func delete(
    _ key: String, dir: Bool = false, recursive: Bool = false, prevValue: String = "",
    prevIndex: UInt64 = 0
  ) -> String {
    let request = DeleteRequest(
      key: "/1" + key, dir: dir, recursive: recursive, prevValue: prevValue, prevIndex: prevIndex)
    return respond { () throws(V2Error) in try store.delete(request, now: now) }
  }

  func post(_ key: String, _ value: String = "", dir: Bool = false, ttl: Int64? = nil) -> String {
    respond { () throws(V2Error) in
      try store.createInOrder("/1" + key, dir: dir, value: value, ttl: ttl, now: now)
    }
  }
}

/// A plain store for tests that do not need etcd's namespaces.
func plainSet(
  _ store: V2Store, _ key: String, _ value: String = "v", ttl: Int64? = nil, at now: StoreTime
)
  -> Event
{
  try! store.set(key, dir: false, value: value, ttl: ttl, now: now)
}

let epoch = StoreTime(secondsSinceEpoch: Harness.recordedSecond)
