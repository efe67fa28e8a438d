import Net
import V2Store

/// etcd's JSON gateway on the client port: `POST /v3/<route>` (and the
/// older `/v3beta/<route>`) with one request message as JSON. As etcd's
/// gateway does, it calls the member's own gRPC service over a loopback
/// connection, so every check, error and interceptor is the gRPC one.
extension EtcdServer {
  static let gatewayPrefixes = ["/v3/", "/v3beta/"]

  func handleV3Gateway(_ request: HTTPRequest, _ responder: HTTPResponder, route name: Substring) {
    guard let route = V3GatewayRoute.all[String(name)] else {
      return respondPlain(responder, 404, "Not Found\n")
    }
    guard request.method == "POST" else {
      return respondPlain(responder, 405, "Method Not Allowed\n")
    }
    let message: [UInt8]
    do {
      message = try route.requestToBinary(request.body)
    } catch {
      let code: GRPCStatusCode = route.kind == .bidiStreaming ? .unknown : .invalidArgument
      return respondGatewayError(
        responder, GRPCStatus(code, "invalid request JSON: \(error)"))
    }
    withLoopback { [weak self] opened in
      guard let self, !responder.isClosed else { return }
      let connection: GRPCClientConnection
      switch opened {
      case .failure(let status): return respondGatewayError(responder, status)
      case .success(let open): connection = open
      }
      if route.kind != .unary {
        streamThroughGateway(route, message, connection, responder)
      } else {
        let call = connection.unary(route.method, request: message) { [weak self] result in
          self?.answerGateway(route, result, responder)
        }
        // A client that leaves cancels its call, as Go's server cancels the
        // request's context.
        responder.onClose = { call.cancel() }
      }
    }
  }

  private func answerGateway(
    _ route: V3GatewayRoute, _ result: Result<[UInt8], GRPCStatus>, _ responder: HTTPResponder
  ) {
    switch result {
    case .success(let bytes):
      guard let json = try? route.responseToJSON(bytes) else {
        return respondGatewayError(
          responder, GRPCStatus(.internalError, "cannot encode the answer"))
      }
      responder.respond(status: 200, headers: Self.gatewayHeaders, body: json)
    case .failure(let status):
      respondGatewayError(responder, status)
    }
  }

  /// The one request goes out and the sending side closes, as grpc-gateway
  /// does; each answer is a line `{"result":...}` of a chunked body, and
  /// an error a last line `{"error":{...}}`. The head goes out with the
  /// first answer, so a call that fails before one gets the error's HTTP
  /// status. The call ends when the client goes away. A client that reads
  /// slower than the member sends is cut off once the connection's write
  /// limit is passed (etcd's gateway slows the stream down instead).
  private func streamThroughGateway(
    _ route: V3GatewayRoute, _ message: [UInt8], _ connection: GRPCClientConnection,
    _ responder: HTTPResponder
  ) {
    var started = false
    let call = connection.serverStreaming(
      route.method, request: message,
      onMessage: { bytes in
        guard let json = try? route.responseToJSON(bytes) else { return }
        if !started {
          started = true
          responder.startStream(status: 200, headers: Self.gatewayHeaders)
        }
        responder.writeChunk(Array("{\"result\":".utf8) + json + Array("}\n".utf8))
      },
      onFinish: { status in
        guard !responder.isClosed else { return }
        let failed = status.code != .ok && status.code != .cancelled
        let http = Self.httpStatus(for: status.code)
        let error =
          "{\"error\":{\"grpc_code\":\(status.code.rawValue),\"http_code\":\(http),"
          + "\"message\":\(V2JSON.quoted(status.message)),"
          + "\"http_status\":\(V2JSON.quoted(HTTPStatus.reason(http)))}}\n"
        guard started else {
          return responder.respond(
            status: failed ? http : 200, headers: Self.gatewayHeaders,
            body: failed ? Array(error.utf8) : [])
        }
        if failed { responder.writeChunk(Array(error.utf8)) }
        responder.endStream()
      })
    responder.onClose = { call.cancel() }
  }

  /// grpc-gateway's error body, `{"error":...,"message":...,"code":N}`,
  /// with the HTTP status it maps the code to.
  private func respondGatewayError(_ responder: HTTPResponder, _ status: GRPCStatus) {
    var headers = HTTPHeaders()
    headers.set("Content-Type", "application/json")
    let message = V2JSON.quoted(status.message)
    let body = "{\"error\":\(message),\"message\":\(message),\"code\":\(status.code.rawValue)}"
    responder.respond(
      status: Self.httpStatus(for: status.code), headers: headers, body: Array(body.utf8))
  }

  private static let gatewayHeaders: HTTPHeaders = [
    "Content-Type": "application/json", "Grpc-Metadata-Content-Type": "application/grpc",
  ]

  /// grpc-gateway's mapping of gRPC codes to HTTP statuses, as etcd 3.4
  /// answers.
  static func httpStatus(for code: GRPCStatusCode) -> Int {
    switch code {
    case .ok: return 200
    case .cancelled: return 408
    case .unknown, .internalError, .dataLoss: return 500
    case .invalidArgument, .outOfRange: return 400
    case .deadlineExceeded: return 504
    case .notFound: return 404
    case .alreadyExists, .aborted: return 409
    case .permissionDenied: return 403
    case .unauthenticated: return 401
    case .resourceExhausted: return 429
    case .failedPrecondition: return 412
    case .unimplemented: return 501
    case .unavailable: return 503
    }
  }
}
