import EtcdProto
import Logging
import MVCC
import Net
import SwiftProtobuf

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The backend file as a whole: Maintenance.Snapshot streams a copy of it,
/// Maintenance.Hash checksums it, Maintenance.Defragment rewrites it, and a
/// raft snapshot sent to a member carries a copy that the member installs
/// in place of its own.
extension EtcdServer {
  /// etcd's chunk size for Snapshot responses.
  static let snapshotChunkSize = 32 * 1024

  func registerBackend(_ server: GRPCServer) {
    registerV3(
      server, "/etcdserverpb.Maintenance/Snapshot",
      .serverStreaming { [unowned self] call, bytes in
        guard let _: Etcdserverpb_SnapshotRequest = decode(call, bytes) else { return }
        copyBackend { [weak self] result in
          switch result {
          case .success(let copy):
            self?.logger.info(
              "sending database snapshot to client", metadata: ["total-bytes": "\(copy.size)"])
            self?.streamSnapshot(copy, call, sent: 0, digest: Digest.sha256())
          case .failure(let failure):
            self?.fail(call, V3Error(code: .unknown, message: "\(failure)"))
          }
        }
      })
    registerV3(
      server, "/etcdserverpb.Maintenance/Defragment",
      .unary { [unowned self] call, bytes in
        guard let _: Etcdserverpb_DefragmentRequest = decode(call, bytes) else { return }
        defragment(call)
      })
    registerV3(
      server, "/etcdserverpb.Maintenance/Hash",
      .unary { [unowned self] call, bytes in
        guard let _: Etcdserverpb_HashRequest = decode(call, bytes) else { return }
        guard let mvcc else { return fail(call, .stopped) }
        // The hash covers committed rows: commit what has been applied.
        commitMVCC()
        do throws(MVCCError) {
          var response = Etcdserverpb_HashResponse()
          response.hash = try mvcc.hash()
          response.header = responseHeader()
          reply(call, response)
        } catch {
          fail(call, V3Error(error))
        }
      })
  }

  /// Defragment: the compacted copy is written on the backend worker while
  /// the loop goes on serving reads from the committed state; applying
  /// waits meanwhile (entries are held, in order, and applied after the
  /// rename), since a write committed during the copy would be lost.
  private func defragment(_ call: GRPCServerCall) {
    guard let mvcc else { return fail(call, .stopped) }
    guard heldApplies == nil else {
      return fail(call, V3Error(code: .unavailable, message: "etcdserver: defragment in progress"))
    }
    commitMVCC()
    let copy: DefragmentCopy
    do throws(MVCCError) {
      copy = try mvcc.beginDefragment()
    } catch {
      return fail(call, V3Error(error))
    }
    heldApplies = []
    backendWorker.submit(
      { () -> MVCCError? in
        do throws(MVCCError) {
          try copy.write()
          return nil
        } catch {
          return error
        }
      },
      completion: { [weak self] failure in
        guard let self else { return }
        var failure = failure
        if failure == nil {
          do throws(MVCCError) {
            try mvcc.finishDefragment(copy)
            refreshBackendSize()
          } catch {
            failure = error
          }
        }
        let held = heldApplies ?? []
        heldApplies = nil
        for work in held { work() }
        if let failure {
          logger.warning("defragment failed", metadata: ["error": "\(failure)"])
          return fail(call, V3Error(code: .unavailable, message: "etcdserver: \(failure)"))
        }
        // etcd answers a defragment with an empty message, no header.
        reply(call, Etcdserverpb_DefragmentResponse())
      })
  }

  /// Runs `work` (applying entries or a snapshot) now, or after the
  /// defragmentation in progress, in the order it came.
  func whenApplying(_ work: @escaping () -> Void) {
    if heldApplies != nil {
      heldApplies!.append(work)
    } else {
      work()
    }
  }

  /// A copy of everything applied so far, made off the loop.
  func copyBackend(_ completion: @escaping (Result<BackendCopy, BackendCopy.Failure>) -> Void) {
    guard let mvcc else { return completion(.failure(.store(.closed))) }
    // The copy reads committed state: commit what has been applied.
    commitMVCC()
    let environment = mvcc.environment
    let directory = config.effectiveDataDir + "/member/snap"
    backendWorker.submit(
      { () -> Result<BackendCopy, BackendCopy.Failure> in
        do throws(BackendCopy.Failure) {
          return .success(try BackendCopy.make(of: environment, in: directory))
        } catch {
          return .failure(error)
        }
      }, completion: completion)
  }

  /// Sends chunks while the call is writable, then etcd's trailer: one
  /// more message holding the SHA-256 of everything sent.
  private func streamSnapshot(
    _ copy: BackendCopy, _ call: GRPCServerCall, sent: Int, digest: Digest
  ) {
    var sent = sent
    while call.isWritable && !call.isCancelled && !call.isFinished {
      var response = Etcdserverpb_SnapshotResponse()
      if sent == copy.size {
        response.blob = Data(digest.finish())
        call.send((try? response.serializedBytes()) ?? [])
        return call.finish()
      }
      let chunk: [UInt8]
      do throws(BackendCopy.Failure) {
        chunk = try copy.read(at: sent, count: Self.snapshotChunkSize)
      } catch {
        return fail(call, V3Error(code: .unknown, message: "\(error)"))
      }
      sent += chunk.count
      digest.update(chunk)
      response.remainingBytes = UInt64(copy.size - sent)
      response.blob = Data(chunk)
      call.send((try? response.serializedBytes()) ?? [])
    }
    call.onWritable = { [weak self] in self?.streamSnapshot(copy, call, sent: sent, digest: digest)
    }
  }

  /// Sends raft messages; a snapshot first gets a copy of the backend, since
  /// the member it goes to has fallen behind the log and cannot rebuild the
  /// key-value state from entries.
  func sendRaftMessages(_ messages: [Raftpb_Message]) {
    recordSent(messages)
    transport.send(messages.filter { $0.type != .msgSnap })
    for var message in messages where message.type == .msgSnap {
      copyBackend { [weak self] result in
        guard let self else { return }
        do {
          let copy = try result.get()
          guard copy.size < PeerWire.maxFrameSize - Self.snapshotFrameReserve else {
            throw BackendCopy.Failure.tooLarge(copy.size)
          }
          var state = try Swetcdpb_ServerSnapshot(serializedBytes: message.snapshot.data)
          state.backend = Data(try copy.read(at: 0, count: copy.size))
          message.snapshot.data = try state.serializedBytes()
          transport.send([message])
        } catch {
          logger.error(
            "cannot send a snapshot",
            metadata: ["to": "\(MemberID.format(message.to))", "error": "\(error)"])
          driver.node.reportSnapshot(to: message.to, succeeded: false)
        }
      }
    }
  }

  /// Room in a peer frame for the rest of a snapshot message.
  static let snapshotFrameReserve = 64 << 20

  /// Takes a leader's backend copy in place of the store, unless the store
  /// already holds the snapshot's state (a restart after the install).
  func installBackend(_ contents: Data, snapshotIndex: UInt64) throws {
    guard !contents.isEmpty, let old = mvcc, old.consistentIndex < snapshotIndex else { return }
    try old.replace(with: contents)
    mvcc = nil
    try adoptMVCC(try MVCCStore(path: old.path))
    logger.info(
      "installed the backend from a snapshot",
      metadata: ["snapshot-index": "\(snapshotIndex)", "revision": "\(mvcc?.currentRevision ?? 0)"])
    resyncWatchers()
  }
}
