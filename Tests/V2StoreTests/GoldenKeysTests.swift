import Testing
import V2Store

/// Responses recorded from etcd 3.4.23 (`etcd --enable-v2`, curl on /v2/keys) for one
/// session, replayed in the same order; indexes match because the harness applies the
/// same three bootstrap writes.
@Suite struct GoldenKeysTests {
  /// Indexes 4 to 19: set, create, update, compareAndSwap, get, delete,
  /// compareAndDelete and their errors.
  static func replayBasics(_ h: Harness) {
    #expect(
      h.put("/foo", "bar")
        == #"{"action":"set","node":{"key":"/foo","value":"bar","modifiedIndex":4,"createdIndex":4}}"#
    )
    #expect(
      h.put("/foo", "baz")
        == #"{"action":"set","node":{"key":"/foo","value":"baz","modifiedIndex":5,"createdIndex":5},"prevNode":{"key":"/foo","value":"bar","modifiedIndex":4,"createdIndex":4}}"#
    )
    #expect(
      h.get("/foo")
        == #"{"action":"get","node":{"key":"/foo","value":"baz","modifiedIndex":5,"createdIndex":5}}"#
    )
    #expect(
      h.put("/foo", "x", prevExist: false)
        == #"{"errorCode":105,"message":"Key already exists","cause":"/foo","index":5}"#)
    #expect(
      h.put("/new", "x", prevExist: false)
        == #"{"action":"create","node":{"key":"/new","value":"x","modifiedIndex":6,"createdIndex":6}}"#
    )
    #expect(
      h.put("/nope", "x", prevExist: true)
        == #"{"errorCode":100,"message":"Key not found","cause":"/nope","index":6}"#)
    #expect(
      h.put("/foo", "upd", prevExist: true)
        == #"{"action":"update","node":{"key":"/foo","value":"upd","modifiedIndex":7,"createdIndex":5},"prevNode":{"key":"/foo","value":"baz","modifiedIndex":5,"createdIndex":5}}"#
    )
    #expect(
      h.put("/foo", "x", prevValue: "no")
        == #"{"errorCode":101,"message":"Compare failed","cause":"[no != upd]","index":7}"#)
    #expect(
      h.put("/foo", "x", prevIndex: 99)
        == #"{"errorCode":101,"message":"Compare failed","cause":"[99 != 7]","index":7}"#)
    #expect(
      h.put("/foo", "x", prevValue: "no", prevIndex: 99)
        == #"{"errorCode":101,"message":"Compare failed","cause":"[no != upd] [99 != 7]","index":7}"#
    )
    #expect(
      h.put("/foo", "cas", prevValue: "upd")
        == #"{"action":"compareAndSwap","node":{"key":"/foo","value":"cas","modifiedIndex":8,"createdIndex":5},"prevNode":{"key":"/foo","value":"upd","modifiedIndex":7,"createdIndex":5}}"#
    )
    #expect(
      h.put("/foo", "cas2", prevExist: true, prevValue: "cas")
        == #"{"action":"compareAndSwap","node":{"key":"/foo","value":"cas2","modifiedIndex":9,"createdIndex":5},"prevNode":{"key":"/foo","value":"cas","modifiedIndex":8,"createdIndex":5}}"#
    )
    #expect(
      h.put("/foo/bar", "x")
        == #"{"errorCode":104,"message":"Not a directory","cause":"/foo","index":9}"#)
    #expect(
      h.get("/foo/bar")
        == #"{"errorCode":104,"message":"Not a directory","cause":"/foo","index":9}"#)
    #expect(
      h.put("/dir", dir: true)
        == #"{"action":"set","node":{"key":"/dir","dir":true,"modifiedIndex":10,"createdIndex":10}}"#
    )
    let notFile = #"{"errorCode":102,"message":"Not a file","cause":"/dir","index":10}"#
    #expect(h.put("/dir", dir: true) == notFile)
    #expect(h.put("/dir", "x") == notFile)
    #expect(h.put("/dir", "x", prevExist: true) == notFile)
    #expect(
      h.put("/dir", prevExist: true)
        == #"{"action":"update","node":{"key":"/dir","dir":true,"modifiedIndex":11,"createdIndex":10},"prevNode":{"key":"/dir","dir":true,"modifiedIndex":10,"createdIndex":10}}"#
    )
    #expect(
      h.put("/dir/a/b/c", "deep")
        == #"{"action":"set","node":{"key":"/dir/a/b/c","value":"deep","modifiedIndex":12,"createdIndex":12}}"#
    )
    #expect(
      h.get("/dir", recursive: true)
        == #"{"action":"get","node":{"key":"/dir","dir":true,"nodes":[{"key":"/dir/a","dir":true,"nodes":[{"key":"/dir/a/b","dir":true,"nodes":[{"key":"/dir/a/b/c","value":"deep","modifiedIndex":12,"createdIndex":12}],"modifiedIndex":12,"createdIndex":12}],"modifiedIndex":12,"createdIndex":12}],"modifiedIndex":10,"createdIndex":10}}"#
    )
    #expect(
      h.get("/dir")
        == #"{"action":"get","node":{"key":"/dir","dir":true,"nodes":[{"key":"/dir/a","dir":true,"modifiedIndex":12,"createdIndex":12}],"modifiedIndex":10,"createdIndex":10}}"#
    )
    #expect(
      h.get("/nothere/a/b")
        == #"{"errorCode":100,"message":"Key not found","cause":"/nothere","index":12}"#)
    #expect(
      h.delete("/dir") == #"{"errorCode":102,"message":"Not a file","cause":"/dir","index":12}"#)
    #expect(
      h.delete("/dir", dir: true)
        == #"{"errorCode":108,"message":"Directory not empty","cause":"/dir","index":12}"#)
    #expect(
      h.delete("/dir/a/b/c", dir: true)
        == #"{"action":"delete","node":{"key":"/dir/a/b/c","modifiedIndex":13,"createdIndex":12},"prevNode":{"key":"/dir/a/b/c","value":"deep","modifiedIndex":12,"createdIndex":12}}"#
    )
    let rootReadOnly = #"{"errorCode":107,"message":"Root is read only","cause":"/","index":13}"#
    #expect(h.delete("/") == rootReadOnly)
    #expect(h.put("/", "x") == rootReadOnly)
    #expect(
      h.delete("/foo", prevValue: "zz")
        == #"{"errorCode":101,"message":"Compare failed","cause":"[zz != cas2]","index":13}"#)
    #expect(
      h.delete("/foo", prevIndex: 1)
        == #"{"errorCode":101,"message":"Compare failed","cause":"[1 != 9]","index":13}"#)
    #expect(
      h.delete("/foo", prevValue: "cas2")
        == #"{"action":"compareAndDelete","node":{"key":"/foo","modifiedIndex":14,"createdIndex":5},"prevNode":{"key":"/foo","value":"cas2","modifiedIndex":9,"createdIndex":5}}"#
    )
    #expect(
      h.delete("/dir", recursive: true)
        == #"{"action":"delete","node":{"key":"/dir","dir":true,"modifiedIndex":15,"createdIndex":10},"prevNode":{"key":"/dir","dir":true,"modifiedIndex":10,"createdIndex":10}}"#
    )
    #expect(
      h.put("/_etcd/x", "1")
        == #"{"action":"set","node":{"key":"/_etcd/x","value":"1","modifiedIndex":16,"createdIndex":16}}"#
    )
    #expect(
      h.get("/_etcd")
        == #"{"action":"get","node":{"key":"/_etcd","dir":true,"nodes":[{"key":"/_etcd/x","value":"1","modifiedIndex":16,"createdIndex":16}],"modifiedIndex":16,"createdIndex":16}}"#
    )
    #expect(
      h.put("/_hidden", "h")
        == #"{"action":"set","node":{"key":"/_hidden","value":"h","modifiedIndex":17,"createdIndex":17}}"#
    )
    #expect(
      h.get("/")
        == #"{"action":"get","node":{"dir":true,"nodes":[{"key":"/new","value":"x","modifiedIndex":6,"createdIndex":6}]}}"#
    )
    #expect(
      h.get("/_hidden")
        == #"{"action":"get","node":{"key":"/_hidden","value":"h","modifiedIndex":17,"createdIndex":17}}"#
    )
    #expect(
      h.put("/esc", "<a>")
        == #"{"action":"set","node":{"key":"/esc","value":"\u003ca\u003e","modifiedIndex":18,"createdIndex":18}}"#
    )
    #expect(
      h.put("/esc2", "\u{8}\u{c}\u{1}\u{2028}é")
        == #"{"action":"set","node":{"key":"/esc2","value":"\u0008\u000c\u0001\u2028é","modifiedIndex":19,"createdIndex":19}}"#
    )
  }

  @Test func basicsMatchEtcd() {
    Self.replayBasics(Harness())
  }

  /// Indexes 20 to 33: TTLs with the recorded sub-second times, refresh, expiry,
  /// in-order keys, noValueOnSuccess.
  @Test func ttlAndInOrderMatchEtcd() {
    let h = Harness()
    Self.replayBasics(h)
    #expect(
      h.put("/foo/bar", "x", prevExist: false)
        == #"{"action":"create","node":{"key":"/foo/bar","value":"x","modifiedIndex":20,"createdIndex":20}}"#
    )
    #expect(
      h.put("/new/bar", "x", prevExist: false)
        == #"{"errorCode":104,"message":"Not a directory","cause":"/new","index":20}"#)
    h.at(nanos: 279_771_077)
    #expect(
      h.put("/t", "v", ttl: 100)
        == #"{"action":"set","node":{"key":"/t","value":"v","expiration":"2026-11-22T03:16:12.279771077Z","ttl":100,"modifiedIndex":21,"createdIndex":21}}"#
    )
    #expect(
      h.get("/t")
        == #"{"action":"get","node":{"key":"/t","value":"v","expiration":"2026-11-22T03:16:12.279771077Z","ttl":100,"modifiedIndex":21,"createdIndex":21}}"#
    )
    #expect(
      h.put("/t", "v2", ttl: nil, prevExist: true)
        == #"{"action":"update","node":{"key":"/t","value":"v2","modifiedIndex":22,"createdIndex":21},"prevNode":{"key":"/t","value":"v","expiration":"2026-11-22T03:16:12.279771077Z","ttl":100,"modifiedIndex":21,"createdIndex":21}}"#
    )
    h.at(nanos: 355_216_774)
    #expect(
      h.put("/t", "v", ttl: 100)
        == #"{"action":"set","node":{"key":"/t","value":"v","expiration":"2026-11-22T03:16:12.355216774Z","ttl":100,"modifiedIndex":23,"createdIndex":23},"prevNode":{"key":"/t","value":"v2","modifiedIndex":22,"createdIndex":21}}"#
    )
    h.at(nanos: 380_464_851)
    #expect(
      h.put("/t", ttl: 200, refresh: true)
        == #"{"action":"set","node":{"key":"/t","value":"v","expiration":"2026-11-22T03:17:52.380464851Z","ttl":200,"modifiedIndex":24,"createdIndex":24},"prevNode":{"key":"/t","value":"v","expiration":"2026-11-22T03:16:12.355216774Z","ttl":100,"modifiedIndex":23,"createdIndex":23}}"#
    )
    h.at(nanos: 406_291_170)
    #expect(
      h.put("/t", ttl: 300, prevExist: true, refresh: true)
        == #"{"action":"update","node":{"key":"/t","value":"v","expiration":"2026-11-22T03:19:32.40629117Z","ttl":300,"modifiedIndex":25,"createdIndex":24},"prevNode":{"key":"/t","value":"v","expiration":"2026-11-22T03:17:52.380464851Z","ttl":200,"modifiedIndex":24,"createdIndex":24}}"#
    )
    h.at(nanos: 433_224_000)
    #expect(
      h.put("/t", ttl: 300, prevValue: "v", refresh: true)
        == #"{"action":"compareAndSwap","node":{"key":"/t","value":"v","expiration":"2026-11-22T03:19:32.433224Z","ttl":300,"modifiedIndex":26,"createdIndex":24},"prevNode":{"key":"/t","value":"v","expiration":"2026-11-22T03:19:32.40629117Z","ttl":300,"modifiedIndex":25,"createdIndex":24}}"#
    )
    #expect(
      h.put("/t", "x", ttl: 200, refresh: true)
        == #"{"errorCode":211,"message":"Value provided on refresh","cause":"A value was provided on a refresh","index":0}"#
    )
    #expect(
      h.put("/t", refresh: true)
        == #"{"errorCode":212,"message":"A TTL must be provided on refresh","cause":"No TTL value set","index":0}"#
    )
    #expect(
      h.put("/nokey", ttl: 5, refresh: true)
        == #"{"errorCode":100,"message":"Key not found","cause":"/nokey","index":26}"#)
    h.at(nanos: 533_941_469)
    #expect(
      h.put("/t", "v", ttl: 0)
        == #"{"action":"set","node":{"key":"/t","value":"v","expiration":"2026-11-22T03:14:32.533941469Z","modifiedIndex":27,"createdIndex":27},"prevNode":{"key":"/t","value":"v","expiration":"2026-11-22T03:19:32.433224Z","ttl":300,"modifiedIndex":26,"createdIndex":24}}"#
    )
    #expect(h.store.expire(now: h.now).map(\.index) == [28])
    #expect(
      h.get("/t") == #"{"errorCode":100,"message":"Key not found","cause":"/t","index":28}"#)
    h.at(nanos: 587_465_400)
    #expect(
      h.put("/td", dir: true, ttl: 50)
        == #"{"action":"set","node":{"key":"/td","dir":true,"expiration":"2026-11-22T03:15:22.5874654Z","ttl":50,"modifiedIndex":29,"createdIndex":29}}"#
    )
    #expect(
      h.post("/q", "one")
        == #"{"action":"create","node":{"key":"/q/00000000000000000030","value":"one","modifiedIndex":30,"createdIndex":30}}"#
    )
    h.at(nanos: 643_747_624)
    #expect(
      h.post("/q", "two", ttl: 30)
        == #"{"action":"create","node":{"key":"/q/00000000000000000031","value":"two","expiration":"2026-11-22T03:15:02.643747624Z","ttl":30,"modifiedIndex":31,"createdIndex":31}}"#
    )
    #expect(
      h.post("/q", dir: true)
        == #"{"action":"create","node":{"key":"/q/00000000000000000032","dir":true,"modifiedIndex":32,"createdIndex":32}}"#
    )
    #expect(
      h.get("/q")
        == #"{"action":"get","node":{"key":"/q","dir":true,"nodes":[{"key":"/q/00000000000000000030","value":"one","modifiedIndex":30,"createdIndex":30},{"key":"/q/00000000000000000031","value":"two","expiration":"2026-11-22T03:15:02.643747624Z","ttl":30,"modifiedIndex":31,"createdIndex":31},{"key":"/q/00000000000000000032","dir":true,"modifiedIndex":32,"createdIndex":32}],"modifiedIndex":30,"createdIndex":30}}"#
    )
    #expect(
      h.post("/new", "x")
        == #"{"errorCode":104,"message":"Not a directory","cause":"/new","index":32}"#)
    #expect(h.put("/p", "x", noValueOnSuccess: true) == #"{"action":"set"}"#)
    // etcd answered GET /p?wait=true&waitIndex=2 with the set at 33, and a recursive
    // watch on / from 25 with the set at 27: the refreshes at 25 and 26 are skipped.
    #expect(watchedIndex(h, "/1/p", recursive: false, from: 2) == 33)
    #expect(watchedIndex(h, "/1", recursive: true, from: 25) == 27)
  }

  private func watchedIndex(_ h: Harness, _ key: String, recursive: Bool, from: UInt64) -> UInt64? {
    guard
      case .event(let event) = try? h.store.watch(
        key, recursive: recursive, stream: false, waitIndex: from)
    else { return nil }
    return event.index
  }
}
