import EtcdProto
import MVCC
import Net
import SwiftProtobuf

/// One Watch stream (a bidirectional gRPC call) and its watchers.
final class V3WatchStream {
  let call: GRPCServerCall
  var watchers: [Int64: V3Watcher] = [:]
  /// IDs the server picks count up from 0 per stream, as etcd's do.
  var nextID: Int64 = 0

  init(call: GRPCServerCall) {
    self.call = call
  }
}

/// A watcher is a small record: what it watches and the first revision it
/// has not been sent yet.
struct V3Watcher {
  var id: Int64
  var interval: KeyInterval
  var prevKV: Bool
  var noPut: Bool
  var noDelete: Bool
  var nextRevision: Int64
  /// Split responses larger than the request limit (etcd's `fragment`).
  var fragment = false
  /// Asked for progress notifications; `progressDue` is cleared when
  /// events go out, so a watcher that saw some skips the next tick, as in
  /// etcd.
  var progressNotify = false
  var progressDue = false
  /// Fell behind a slow client: sent nothing more until the stream drains,
  /// then caught up from the store's history (etcd's "victims").
  var isBehind = false

  func wants(_ event: Mvccpb_Event) -> Bool {
    if event.type == .put && noPut { return false }
    if event.type == .delete && noDelete { return false }
    return interval.contains(Array(event.kv.key))
  }
}

/// The Watch service: watchers see every change from their start revision
/// on, in order, from the store's history when they start in the past or
/// fell behind, else straight from the apply that made the change.
extension EtcdServer {
  /// etcd's: at most this many revisions of history in one response while
  /// a watcher catches up.
  static let watchBatchMaxRevisions: Int64 = 1000
  static let defaultWatchProgressIntervalMs: UInt64 = 10 * 60 * 1000
  static let minimumWatchProgressIntervalMs: UInt64 = 100

  func registerWatch(_ server: GRPCServer) {
    registerV3(
      server, "/etcdserverpb.Watch/Watch",
      .bidiStreaming { [unowned self] call in openWatchStream(call) })
    let configured = config.watchProgressNotifyIntervalMs
    let interval =
      configured == 0
      ? Self.defaultWatchProgressIntervalMs : max(configured, Self.minimumWatchProgressIntervalMs)
    watchProgressTimer = LoopTimer.every(interval, on: loop) { [weak self] in
      self?.notifyProgress()
    }
  }

  /// The progress tick: a synced watcher that asked for notifications and
  /// saw no events since the last tick learns the current revision.
  private func notifyProgress() {
    for stream in v3WatchStreams.values {
      for (id, watcher) in stream.watchers where watcher.progressNotify {
        let synced = !watcher.isBehind && watcher.nextRevision > (mvcc?.currentRevision ?? 1)
        if watcher.progressDue && synced {
          var response = Etcdserverpb_WatchResponse()
          response.watchID = id
          send(response, on: stream)
        }
        stream.watchers[id]?.progressDue = true
      }
    }
  }

  private func openWatchStream(_ call: GRPCServerCall) {
    let stream = V3WatchStream(call: call)
    let key = ObjectIdentifier(stream)
    v3WatchStreams[key] = stream
    call.onMessage = { [weak self, weak stream] bytes in
      guard let self, let stream else { return }
      let request: Etcdserverpb_WatchRequest
      switch V3Error.decode(bytes) as Result<Etcdserverpb_WatchRequest, V3Error> {
      case .success(let decoded): request = decoded
      case .failure(let error):
        v3WatchStreams.removeValue(forKey: key)
        return fail(call, error)
      }
      handleWatchRequest(request, stream)
    }
    let close = { [weak self] in
      _ = self?.v3WatchStreams.removeValue(forKey: key)
    }
    call.onCancel = close
    // A client that has sent all its requests still gets its events, as
    // from etcd: the stream lasts until the client cancels it or goes.
    call.onHalfClose = nil
    call.onWritable = { [weak self, weak stream] in
      guard let self, let stream else { return }
      for id in stream.watchers.keys where stream.watchers[id]?.isBehind == true {
        stream.watchers[id]?.isBehind = false
        catchUp(stream, id)
      }
    }
  }

  private func handleWatchRequest(_ request: Etcdserverpb_WatchRequest, _ stream: V3WatchStream) {
    switch request.requestUnion {
    case .createRequest(let create):
      createWatcher(create, stream)
    case .cancelRequest(let cancel):
      guard stream.watchers.removeValue(forKey: cancel.watchID) != nil else { return }
      var response = Etcdserverpb_WatchResponse()
      response.watchID = cancel.watchID
      response.canceled = true
      send(response, on: stream)
    case .progressRequest:
      var response = Etcdserverpb_WatchResponse()
      response.watchID = -1
      send(response, on: stream)
    case nil:
      break
    }
  }

  private func createWatcher(_ create: Etcdserverpb_WatchCreateRequest, _ stream: V3WatchStream) {
    var created = Etcdserverpb_WatchResponse()
    created.created = true
    // etcd watches "\0" for an empty key.
    let key = create.key.isEmpty ? [0] : Array(create.key)
    let refusal: String?
    if !create.rangeEnd.isEmpty && !create.rangeEnd.elementsEqual([0])
      && !key.lexicographicallyPrecedes(create.rangeEnd)
    {
      refusal = "mvcc: watcher range is empty"
    } else if create.watchID != 0 && stream.watchers[create.watchID] != nil {
      refusal = "mvcc: duplicate watch ID provided on the WatchStream"
    } else {
      refusal = nil
    }
    // A refused watcher takes no ID: etcd answers with -1.
    guard refusal == nil else {
      created.watchID = -1
      created.canceled = true
      created.cancelReason = refusal ?? ""
      return send(created, on: stream)
    }
    var id = create.watchID
    if id == 0 {
      while stream.watchers[stream.nextID] != nil { stream.nextID += 1 }
      id = stream.nextID
      stream.nextID += 1
    }
    created.watchID = id
    let current = mvcc?.currentRevision ?? 1
    stream.watchers[id] = V3Watcher(
      id: id, interval: KeyInterval(key: key, rangeEnd: Array(create.rangeEnd)),
      prevKV: create.prevKv, noPut: create.filters.contains(.noput),
      noDelete: create.filters.contains(.nodelete),
      nextRevision: create.startRevision == 0 ? current + 1 : create.startRevision,
      fragment: create.fragment, progressNotify: create.progressNotify,
      progressDue: create.progressNotify)
    send(created, on: stream)
    if create.startRevision != 0 && create.startRevision <= current { catchUp(stream, id) }
  }

  /// Sends a watcher what it missed, from the store's history, at most
  /// `watchBatchMaxRevisions` revisions per response; when the stream is
  /// full it waits, behind, for the client to read.
  private func catchUp(_ stream: V3WatchStream, _ id: Int64) {
    guard let mvcc else { return }
    while let watcher = stream.watchers[id], watcher.nextRevision <= mvcc.currentRevision {
      guard stream.call.isWritable else {
        stream.watchers[id]?.isBehind = true
        return
      }
      let last = min(mvcc.currentRevision, watcher.nextRevision + Self.watchBatchMaxRevisions - 1)
      let history: [Mvccpb_Event]
      do {
        // etcd takes a negative start for one before any compaction.
        guard watcher.nextRevision > 0 else { throw MVCCError.compacted }
        history = try mvcc.changes(from: watcher.nextRevision, through: last)
      } catch {
        // Its start was compacted away: etcd cancels such a watcher and says
        // where history now begins (-1 before the first compaction), with
        // revision 0 in the header and no reason: clients know what it means.
        stream.watchers.removeValue(forKey: id)
        var response = Etcdserverpb_WatchResponse()
        response.header = responseHeader()
        response.header.revision = 0
        response.watchID = id
        response.compactRevision = mvcc.compactRevision > 0 ? mvcc.compactRevision : -1
        response.canceled = true
        return send(response, on: stream)
      }
      var events = history.filter(watcher.wants)
      if watcher.prevKV {
        for index in events.indices {
          let key = events[index].kv.key
          let before = events[index].kv.modRevision - 1
          if let previous = try? mvcc.range(key, revision: before).kvs.first {
            events[index].prevKv = previous
          }
        }
      }
      stream.watchers[id]?.nextRevision = last + 1
      sendEvents(events, watcher: watcher, on: stream)
    }
  }

  /// After the store was replaced by a leader's copy: every watcher catches
  /// up from the new history, or is canceled if that was compacted away.
  func resyncWatchers() {
    for stream in v3WatchStreams.values {
      for id in stream.watchers.keys where stream.watchers[id]?.isBehind == false {
        catchUp(stream, id)
      }
    }
  }

  /// After a write is applied: every watcher that wants its events gets
  /// them, unless its client is not keeping up.
  func notifyWatchers(_ events: [Mvccpb_Event], revision: Int64) {
    guard !events.isEmpty else { return }
    for stream in v3WatchStreams.values {
      for (id, watcher) in stream.watchers
      where !watcher.isBehind && watcher.nextRevision <= revision {
        var wanted = events.filter(watcher.wants)
        if !watcher.prevKV {
          for index in wanted.indices { wanted[index].clearPrevKv() }
        }
        guard stream.call.isWritable else {
          stream.watchers[id]?.isBehind = true
          continue
        }
        stream.watchers[id]?.nextRevision = revision + 1
        sendEvents(wanted, watcher: watcher, on: stream)
      }
    }
  }

  /// Events for one watcher: in one response, or, for a watcher that asked
  /// for fragments, in as many as keep each under the request limit (the
  /// last with `fragment` false), split as etcd splits them.
  private func sendEvents(_ events: [Mvccpb_Event], watcher: V3Watcher, on stream: V3WatchStream) {
    guard !events.isEmpty else { return }
    if watcher.progressNotify { stream.watchers[watcher.id]?.progressDue = false }
    var response = Etcdserverpb_WatchResponse()
    response.watchID = watcher.id
    response.header = responseHeader()
    let limit = config.maxRequestBytes + Self.grpcOverheadBytes
    guard watcher.fragment, events.count > 1 else {
      response.events = events
      return send(response, on: stream)
    }
    response.fragment = true
    // A repeated message field costs a tag byte, the length, the message.
    func cost(_ event: Mvccpb_Event) -> Int {
      let size = (try? event.serializedBytes() as [UInt8])?.count ?? 0
      return 1 + Self.varintSize(size) + size
    }
    let base = (try? response.serializedBytes() as [UInt8])?.count ?? 0
    var chunk: [Mvccpb_Event] = []
    var size = base
    for event in events {
      let eventCost = cost(event)
      if !chunk.isEmpty && size + eventCost >= limit {
        response.events = chunk
        send(response, on: stream)
        chunk = []
        size = base
      }
      chunk.append(event)
      size += eventCost
    }
    response.events = chunk
    response.fragment = false
    send(response, on: stream)
  }

  private static func varintSize(_ value: Int) -> Int {
    var value = UInt64(value)
    var bytes = 1
    while value >= 0x80 {
      value >>= 7
      bytes += 1
    }
    return bytes
  }

  private func send(_ response: Etcdserverpb_WatchResponse, on stream: V3WatchStream) {
    guard !stream.call.isFinished, !stream.call.isCancelled else { return }
    var response = response
    // Event responses already carry theirs (their fragments were measured with it).
    if !response.hasHeader { response.header = responseHeader() }
    stream.call.send((try? response.serializedBytes()) ?? [])
  }
}
