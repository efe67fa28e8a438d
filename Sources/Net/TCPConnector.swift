import CLibUV

/// Outgoing TCP connections with a deadline. Retrying is the caller's policy.
public enum TCPConnector {
  /// Connects to `address`; `completion` runs once on the loop thread with a
  /// connection (not yet reading) or the error, `.timedOut` after `timeoutMs`.
  public static func connect(
    loop: EventLoop, to address: SocketAddress, timeoutMs: UInt64,
    completion: @escaping (Result<TCPConnection, NetError>) -> Void
  ) {
    let connection: TCPConnection
    do {
      connection = try TCPConnection(loop: loop)
    } catch {
      completion(.failure(error))
      return
    }
    ConnectAttempt(connection: connection, completion: completion).start(address, timeoutMs)
  }
}

/// One connect in flight. libuv retains it through the request's `data`
/// until the connect callback, which always runs (with ECANCELED if the
/// deadline closed the handle first).
private final class ConnectAttempt {
  let connection: TCPConnection
  var completion: ((Result<TCPConnection, NetError>) -> Void)?
  let request = UnsafeMutableRawPointer.allocate(byteCount: uv_req_size(UV_CONNECT), alignment: 16)
  var deadline: LoopTimer?
  var timedOut = false

  init(connection: TCPConnection, completion: @escaping (Result<TCPConnection, NetError>) -> Void) {
    self.connection = connection
    self.completion = completion
  }

  deinit { request.deallocate() }

  func start(_ address: SocketAddress, _ timeoutMs: UInt64) {
    let connect = request.assumingMemoryBound(to: uv_connect_t.self)
    connect.pointee.data = Unmanaged.passRetained(self).toOpaque()
    let rc = address.withSockAddr {
      uv_tcp_connect(connect, connection.tcp, $0) { connect, status in
        guard let data = connect?.pointee.data else { return }
        Unmanaged<ConnectAttempt>.fromOpaque(data).takeRetainedValue().finish(status)
      }
    }
    if rc < 0 {
      Unmanaged.passUnretained(self).release()
      connection.close()
      completion?(.failure(.uv(rc)))
      return
    }
    deadline = LoopTimer.after(timeoutMs, on: connection.loop) { [weak self] in
      self?.timedOut = true
      self?.connection.close(reason: .timedOut)
    }
  }

  func finish(_ status: Int32) {
    deadline?.cancel()
    let completion = self.completion
    self.completion = nil
    if status == 0 && !connection.isClosing {
      completion?(.success(connection))
    } else {
      connection.close()
      completion?(.failure(timedOut ? .timedOut : .uv(status)))
    }
  }
}
