import Testing
import V2Store

/// A second etcd 3.4.23 session, recorded for its /v2/stats/store counters, which keep
/// etcd's habit of counting some errors as successes.
@Suite struct GoldenStatsTests {
  @Test func countersMatchEtcd() {
    let h = Harness()
    _ = h.put("/k", "1")
    _ = h.delete("/k")
    _ = h.put("/k", "1")
    _ = h.delete("/k", prevValue: "zz")
    _ = h.delete("/k", prevValue: "1")
    _ = h.put("/f", "1")
    _ = h.put("/f/x", "1")
    _ = h.put("/f/x", "1", prevExist: false)
    _ = h.put("/g", "1", prevExist: true)
    _ = h.put("/f", "1", prevValue: "zz")
    _ = h.get("/k")
    let rootReadOnly = #"{"errorCode":107,"message":"Root is read only","cause":"/","index":8}"#
    #expect(h.put("/", "1", prevValue: "x") == rootReadOnly)
    #expect(h.put("/", "1", prevExist: true) == rootReadOnly)
    #expect(h.put("/", "1", prevExist: false) == rootReadOnly)
    // The namespace "/1" trims to an empty cause, which etcd omits.
    #expect(h.delete("/", prevValue: "x") == #"{"errorCode":102,"message":"Not a file","index":8}"#)
    // etcd reported getsFail 18: its server also counts internal member lookups.
    #expect(
      h.store.stats.json
        == #"{"getsSuccess":0,"getsFail":1,"setsSuccess":5,"setsFail":2,"deleteSuccess":1,"deleteFail":0,"updateSuccess":1,"updateFail":1,"createSuccess":1,"createFail":2,"compareAndSwapSuccess":1,"compareAndSwapFail":1,"compareAndDeleteSuccess":3,"compareAndDeleteFail":0,"expireCount":0,"watchers":0}"#
    )
  }

  /// Recorded: a stream watcher on a key hears its delete twice (once as a removed
  /// path, once as the event key), for delete and compareAndDelete alike.
  @Test func streamWatcherOnDeletedKeyHearsItTwice() {
    let h = Harness()
    _ = h.put("/k", "1")
    _ = try! h.store.watch("/1/k", recursive: false, stream: true, waitIndex: 0)
    _ = h.delete("/k")
    _ = h.put("/k", "1")
    _ = h.delete("/k", prevValue: "1")
    let notes = h.store.takeNotifications()
    #expect(
      notes.map(\.event.action) == [.delete, .delete, .set, .compareAndDelete, .compareAndDelete])
    #expect(notes.map(\.event.index) == [5, 5, 6, 7, 7])
  }
}
