extension ProtocolSniffer {
  /// Serves HTTP/1.1 and gRPC on one port, as etcd's client port does:
  /// call it from a listener's `onAccept`. A connection that opens with
  /// the HTTP/2 preface goes to `grpc`, any other to `http`, each with the
  /// bytes read so far. The listener stays the caller's: close it before
  /// shutting both servers down.
  public static func route(_ connection: TCPConnection, http: HTTPServer, grpc: GRPCServer) {
    attach(connection) { [weak http, weak grpc] bytes, _ in
      switch classify(bytes) {
      case nil:
        return .needMoreBytes
      case .http1:
        guard let http else { return .reject }
        return .handOver { http.serve($0, initialBytes: $1) }
      case .http2PriorKnowledge:
        guard let grpc else { return .reject }
        return .handOver { grpc.serve($0, initialBytes: $1) }
      }
    }
  }
}
