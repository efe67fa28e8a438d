import Dispatch
import EtcdProto
import Foundation
import Net
import SwiftProtobuf
import Synchronization

/// A blocking v3 client for tests: Net's gRPC client connection on an event
/// loop of its own thread. Every call waits, at most `seconds`, for its
/// answer; a call that got none is reported as DEADLINE_EXCEEDED "no answer".
final class V3Client: @unchecked Sendable {
  private let loop: EventLoop
  private let loopEnded = DispatchSemaphore(value: 0)
  /// Loop thread only.
  private var connection: GRPCClientConnection?
  private var isClosed = false

  /// Connects to 127.0.0.1:`port`; throws when that fails within 2 s.
  init(port: Int) throws {
    loop = try EventLoop()
    let loop = self.loop
    let loopEnded = self.loopEnded
    Thread {
      loop.run()
      loop.close()
      loopEnded.signal()
    }.start()
    let address = try SocketAddress(host: "127.0.0.1", port: port)
    let connected: NetError?? = wait(seconds: 5) { [self] done in
      GRPCClientConnection.connect(loop: loop, to: address, timeoutMs: 2000) { result in
        switch result {
        case .success(let connection):
          self.connection = connection
          done(nil)
        case .failure(let error):
          done(error)
        }
      }
    }
    guard case .some(nil) = connected else {
      close()
      throw (connected ?? nil) ?? NetError.timedOut
    }
  }

  deinit { close() }

  /// Closes the connection and ends the loop thread. Idempotent.
  func close() {
    guard !isClosed else { return }
    isClosed = true
    loop.post { [self] in
      connection?.close()
      connection = nil
    }
    loop.stop()
    _ = loopEnded.wait(timeout: .now() + 10)
  }

  /// Runs `body` on the loop thread and waits until it calls `done`; nil
  /// when that took over `seconds`.
  private func wait<T: Sendable>(
    seconds: Double, _ body: @escaping @Sendable (@escaping @Sendable (T) -> Void) -> Void
  ) -> T? {
    let result = Mutex<T?>(nil)
    let answered = DispatchSemaphore(value: 0)
    let posted = loop.post { [body] in
      body { value in
        result.withLock { $0 = value }
        answered.signal()
      }
    }
    guard posted, answered.wait(timeout: .now() + seconds) == .success else { return nil }
    return result.withLock { $0 }
  }

  /// One unary call with raw request bytes. `metadata` goes out as request
  /// headers as is (a hand-made grpc-timeout, say).
  func unary(
    _ path: String, _ request: [UInt8], metadata: HTTPHeaders = [:], seconds: Double = 10
  ) -> Result<[UInt8], GRPCStatus> {
    let answer: Result<[UInt8], GRPCStatus>? = wait(seconds: seconds) { [self] done in
      guard let connection else { return done(.failure(GRPCStatus(.unavailable, "closed"))) }
      connection.unary(path, request: request, metadata: metadata) { done($0) }
    }
    return answer ?? .failure(GRPCStatus(.deadlineExceeded, "no answer"))
  }

  /// One unary call with a typed request and response.
  func call<Response: SwiftProtobuf.Message>(
    _ path: String, _ request: some SwiftProtobuf.Message, seconds: Double = 10
  ) -> Result<Response, GRPCStatus> {
    let bytes: [UInt8] = (try? request.serializedBytes()) ?? []
    return unary(path, bytes, seconds: seconds).flatMap { bytes in
      do {
        return .success(try Response(serializedBytes: bytes))
      } catch {
        return .failure(GRPCStatus(.internalError, "undecodable response: \(error)"))
      }
    }
  }

  /// Starts a call and hands it to `body` on the loop thread (which sends,
  /// cancels or schedules that later); the call's status once it finished,
  /// or nil when it did not within `seconds`.
  func stream(
    _ path: String, metadata: HTTPHeaders = [:], seconds: Double = 10,
    onMessage: @escaping @Sendable ([UInt8]) -> Void = { _ in },
    _ body: @escaping @Sendable (GRPCClientCall, EventLoop) -> Void
  ) -> GRPCStatus? {
    wait(seconds: seconds) { [self] done in
      guard let connection else { return done(GRPCStatus(.unavailable, "closed")) }
      let call = connection.makeCall(
        path, metadata: metadata, onMessage: onMessage, onFinish: { done($0) })
      body(call, loop)
    }
  }

  func put(_ key: String, _ value: String, seconds: Double = 10) -> Result<
    Etcdserverpb_PutResponse, GRPCStatus
  > {
    var request = Etcdserverpb_PutRequest()
    request.key = Data(key.utf8)
    request.value = Data(value.utf8)
    return call("/etcdserverpb.KV/Put", request, seconds: seconds)
  }

  /// Keys from `prefix` on (prefix range), read from this member's own
  /// store when `serializable`.
  func range(prefix: String, serializable: Bool = false)
    -> Result<Etcdserverpb_RangeResponse, GRPCStatus>
  {
    var request = Etcdserverpb_RangeRequest()
    request.key = Data(prefix.utf8)
    var end = Array(prefix.utf8)
    end[end.count - 1] += 1
    request.rangeEnd = Data(end)
    request.serializable = serializable
    return call("/etcdserverpb.KV/Range", request)
  }

  /// The member's current revision, as a range answer's header reports it.
  func revision(serializable: Bool = false) -> Int64? {
    var request = Etcdserverpb_RangeRequest()
    request.key = Data("revision-probe".utf8)
    request.serializable = serializable
    let answer: Result<Etcdserverpb_RangeResponse, GRPCStatus> = call(
      "/etcdserverpb.KV/Range", request)
    return try? answer.get().header.revision
  }

  func hashKV(revision: Int64) -> Result<Etcdserverpb_HashKVResponse, GRPCStatus> {
    var request = Etcdserverpb_HashKVRequest()
    request.revision = revision
    return call("/etcdserverpb.Maintenance/HashKV", request)
  }
}
