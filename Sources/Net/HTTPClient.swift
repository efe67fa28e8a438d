import CLibUV

/// One-shot HTTP/1.1 requests from the loop thread, for the few calls a
/// server makes to its peers. Each request opens its own connection and
/// asks the server to close it (`Connection: close`), so the response ends
/// at EOF and no connection state outlives the call; the cost is one TCP
/// handshake per request, which is fine for occasional forwarded calls.
public enum HTTPClient {
  public struct Response: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]
  }

  /// Largest response kept; a larger one fails the call.
  public static let maxResponseBytes = 4 << 20

  /// Sends `method path` with `body` to `address`; `completion` runs once
  /// on the loop thread with the whole response, or the error (`.timedOut`
  /// when no whole answer came within `timeoutMs`).
  public static func send(
    _ method: String, _ path: String, body: [UInt8], contentType: String,
    to address: SocketAddress, on loop: EventLoop, timeoutMs: UInt64,
    completion: @escaping (Result<Response, NetError>) -> Void
  ) {
    let exchange = Exchange(completion: completion)
    exchange.deadline = LoopTimer.after(timeoutMs, on: loop) { [weak exchange] in
      exchange?.finish(.failure(.timedOut))
    }
    TCPConnector.connect(loop: loop, to: address, timeoutMs: timeoutMs) { result in
      switch result {
      case .failure(let error): exchange.finish(.failure(error))
      case .success(let connection):
        let head =
          "\(method) \(path) HTTP/1.1\r\nHost: \(address)\r\nContent-Type: \(contentType)\r\n"
          + "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        exchange.start(connection, request: Array(head.utf8) + body)
      }
    }
  }

  /// Splits a response that ended at EOF: status line, header fields, and
  /// the body, cut to Content-Length when one is given. Nil if malformed.
  static func parse(_ bytes: [UInt8]) -> Response? {
    let separator: [UInt8] = [13, 10, 13, 10]
    guard let end = bytes.firstRange(of: separator) else { return nil }
    let lines = String(decoding: bytes[..<end.lowerBound], as: UTF8.self)
      .split(separator: "\r\n", omittingEmptySubsequences: false)
    let statusParts = lines[0].split(separator: " ")
    guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."),
      let status = Int(statusParts[1])
    else { return nil }
    var headers = HTTPHeaders()
    for line in lines.dropFirst() {
      guard let colon = line.firstIndex(of: ":") else { return nil }
      let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
      headers.add(String(line[..<colon]), String(value))
    }
    var body = Array(bytes[end.upperBound...])
    if let lengthText = headers["Content-Length"] {
      guard let length = Int(lengthText), length >= 0, length <= body.count else { return nil }
      body.removeLast(body.count - length)
    }
    return Response(status: status, headers: headers, body: body)
  }
}

/// One request in flight: kept alive by the connection's closures and the
/// connect callback, finished exactly once.
private final class Exchange {
  var completion: ((Result<HTTPClient.Response, NetError>) -> Void)?
  var deadline: LoopTimer?
  var connection: TCPConnection?
  var received: [UInt8] = []

  init(completion: @escaping (Result<HTTPClient.Response, NetError>) -> Void) {
    self.completion = completion
  }

  func start(_ connection: TCPConnection, request: [UInt8]) {
    guard completion != nil else { return connection.close() }
    self.connection = connection
    connection.setNoDelay(true)
    connection.onRead = { [unowned self] bytes in
      guard received.count + bytes.count <= HTTPClient.maxResponseBytes else {
        return finish(.failure(.writeQueueOverflow))
      }
      received.append(contentsOf: bytes)
    }
    connection.onPeerClosed = { [unowned self] in
      guard let response = HTTPClient.parse(received) else {
        return finish(.failure(.uv(UV_EPROTO.rawValue)))
      }
      finish(.success(response))
    }
    connection.onClose = { [self] error in
      finish(.failure(error ?? .uv(UV_ECONNRESET.rawValue)))
    }
    connection.write(request)
    connection.startReading()
  }

  func finish(_ result: Result<HTTPClient.Response, NetError>) {
    guard let completion else { return }
    self.completion = nil
    deadline?.cancel()
    deadline = nil
    if let connection, !connection.isClosing { connection.close() }
    connection = nil
    completion(result)
  }
}
