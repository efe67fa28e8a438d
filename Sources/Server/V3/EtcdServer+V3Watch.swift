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
  func registerWatch(_ server: GRPCServer) {
    registerV3(
      server, "/etcdserverpb.Watch/Watch",
      .bidiStreaming { [unowned self] call in openWatchStream(call) })
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
    call.onHalfClose = {
      close()
      call.finish()
    }
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
    var id = create.watchID
    if id == 0 {
      while stream.watchers[stream.nextID] != nil { stream.nextID += 1 }
      id = stream.nextID
      stream.nextID += 1
    }
    var created = Etcdserverpb_WatchResponse()
    created.watchID = id
    created.created = true
    guard stream.watchers[id] == nil else {
      created.canceled = true
      created.cancelReason = "etcdserver: duplicate watch ID"
      return send(created, on: stream)
    }
    let current = mvcc?.currentRevision ?? 1
    stream.watchers[id] = V3Watcher(
      id: id, interval: KeyInterval(key: Array(create.key), rangeEnd: Array(create.rangeEnd)),
      prevKV: create.prevKv, noPut: create.filters.contains(.noput),
      noDelete: create.filters.contains(.nodelete),
      nextRevision: create.startRevision > 0 ? create.startRevision : current + 1)
    send(created, on: stream)
    if create.startRevision > 0 && create.startRevision <= current { catchUp(stream, id) }
  }

  /// Sends a watcher what it missed, from the store's history.
  private func catchUp(_ stream: V3WatchStream, _ id: Int64) {
    guard let mvcc, let watcher = stream.watchers[id] else { return }
    let current = mvcc.currentRevision
    guard watcher.nextRevision <= current else { return }
    let history: [Mvccpb_Event]
    do {
      history = try mvcc.changes(from: watcher.nextRevision, through: current)
    } catch {
      // Its start was compacted away: etcd cancels such a watcher and says
      // where history now begins.
      stream.watchers.removeValue(forKey: id)
      var response = Etcdserverpb_WatchResponse()
      response.watchID = id
      response.compactRevision = mvcc.compactRevision
      response.canceled = true
      response.cancelReason = V3Error.compacted.message
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
    stream.watchers[id]?.nextRevision = current + 1
    guard !events.isEmpty else { return }
    var response = Etcdserverpb_WatchResponse()
    response.watchID = id
    response.events = events
    send(response, on: stream)
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
        guard !wanted.isEmpty else { continue }
        var response = Etcdserverpb_WatchResponse()
        response.watchID = id
        response.events = wanted
        send(response, on: stream)
      }
    }
  }

  private func send(_ response: Etcdserverpb_WatchResponse, on stream: V3WatchStream) {
    guard !stream.call.isFinished, !stream.call.isCancelled else { return }
    var response = response
    response.header = responseHeader()
    stream.call.send((try? response.serializedBytes()) ?? [])
  }
}
