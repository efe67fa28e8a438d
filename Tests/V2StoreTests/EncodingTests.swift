import Testing
import V2Store

@Suite struct EncodingTests {
  private func encoded(_ value: String) -> String {
    let event = Event(
      action: .get, node: NodeView(key: "/k", value: value, modifiedIndex: 1, createdIndex: 1),
      etcdIndex: 1)
    let prefix = #"{"action":"get","node":{"key":"/k","value":"#
    let suffix = #","modifiedIndex":1,"createdIndex":1}}"#
    let json = V2JSON.encode(event)
    #expect(json.hasPrefix(prefix) && json.hasSuffix(suffix))
    return String(json.dropFirst(prefix.count).dropLast(suffix.count))
  }

  /// Go's encoding/json with HTML escaping, as etcd 3.4.23 answered.
  @Test func escapesLikeGo() {
    #expect(encoded("a\"b\\c") == #""a\"b\\c""#)
    #expect(encoded("\n\r\t") == #""\n\r\t""#)
    #expect(encoded("\u{0}\u{8}\u{c}\u{1f}") == #""\u0000\u0008\u000c\u001f""#)
    #expect(encoded("<&>") == #""\u003c\u0026\u003e""#)
    #expect(encoded("\u{2028}\u{2029}") == #""\u2028\u2029""#)
    #expect(encoded("é日本\u{7f}🙂") == "\"é日本\u{7f}🙂\"")
  }

  @Test func rfc3339NanoLikeGo() {
    func format(_ seconds: Int64, _ nanos: Int64) -> String {
      V2JSON.rfc3339Nano(StoreTime(nanosecondsSinceEpoch: seconds * 1_000_000_000 + nanos))
    }
    #expect(format(0, 0) == "1970-01-01T00:00:00Z")
    #expect(format(1_795_317_272, 123_456_789) == "2026-11-22T03:14:32.123456789Z")
    #expect(format(1_795_317_272, 433_224_000) == "2026-11-22T03:14:32.433224Z")
    #expect(format(1_795_317_272, 500_000_000) == "2026-11-22T03:14:32.5Z")
    #expect(format(951_782_400, 1) == "2000-02-29T00:00:00.000000001Z")
    #expect(format(-1, 0) == "1969-12-31T23:59:59Z")
    #expect(format(4_102_444_799, 0) == "2099-12-31T23:59:59Z")
  }

  /// Absurd TTLs saturate instead of trapping the apply loop.
  @Test func hugeTTLDoesNotTrap() throws {
    let store = V2Store()
    let event = try store.set("/k", dir: false, value: "v", ttl: .max, now: epoch)
    #expect(event.node.expiration == StoreTime(nanosecondsSinceEpoch: .max))
    #expect(
      V2JSON.rfc3339Nano(StoreTime(nanosecondsSinceEpoch: .max)) == "2262-04-11T23:47:16.854775807Z"
    )
  }

  @Test func errorBodies() {
    #expect(
      V2JSON.encode(V2Error(.keyNotFound, cause: "/1/foo", index: 7), trimmingPrefix: "/1")
        == #"{"errorCode":100,"message":"Key not found","cause":"/foo","index":7}"#)
    #expect(
      V2JSON.encode(V2Error(.raftInternal, cause: "", index: 0))
        == #"{"errorCode":300,"message":"Raft Internal Error","index":0}"#)
    let statuses = Dictionary(
      uniqueKeysWithValues: V2ErrorCode.allCases.map { ($0.rawValue, $0.httpStatus) })
    #expect(statuses[100] == 404 && statuses[101] == 412 && statuses[102] == 403)
    #expect(statuses[105] == 412 && statuses[108] == 403 && statuses[110] == 401)
    #expect(statuses[300] == 500 && statuses[401] == 400 && statuses[212] == 400)
  }

  /// Field names and order of GET /v2/stats/store on etcd 3.4.23.
  @Test func statsJSON() throws {
    let store = V2Store()
    _ = plainSet(store, "/k", at: epoch)
    _ = try? store.get("/nope", recursive: false, now: epoch)
    _ = try store.watch("/k", recursive: false, stream: false, waitIndex: 0)
    #expect(
      store.stats.json
        == #"{"getsSuccess":0,"getsFail":1,"setsSuccess":1,"setsFail":0,"deleteSuccess":0,"deleteFail":0,"updateSuccess":0,"updateFail":0,"createSuccess":0,"createFail":0,"compareAndSwapSuccess":0,"compareAndSwapFail":0,"compareAndDeleteSuccess":0,"compareAndDeleteFail":0,"expireCount":0,"watchers":1}"#
    )
  }

  /// Keys are cleaned as path.Clean(path.Join("/", key)).
  @Test func keysAreCleaned() throws {
    let store = V2Store()
    #expect(
      try store.set("a/../b//c/", dir: false, value: "1", ttl: nil, now: epoch).node.key == "/b/c")
    #expect(try store.get("/x/../../b/./c", recursive: false, now: epoch).node.value == "1")
    #expect(try store.get("", recursive: false, now: epoch).node.key == "/")
  }

  /// Go compares bytes: canonically equivalent spellings are different keys.
  @Test func keysCompareByBytes() throws {
    let store = V2Store()
    _ = plainSet(store, "/caf\u{e9}", "composed", at: epoch)
    _ = plainSet(store, "/cafe\u{301}", "decomposed", at: epoch)
    let listing = try store.get("/", recursive: false, now: epoch).node.nodes
    #expect(listing.map(\.value) == ["decomposed", "composed"])
  }
}
