import Net
import SwiftProtobuf

/// The standard gRPC health service (grpc.health.v1.Health), which etcd
/// registers for probes and load balancers: the empty service name, which
/// stands for every etcd service, is always SERVING; any other name is
/// unknown.
///
/// Its two messages have one field each, so the well-known wrapper types
/// carry them on the wire: HealthCheckRequest is field 1, a string (as
/// StringValue), and HealthCheckResponse is field 1, an enum, encoded as
/// an int32 (as Int32Value).
extension EtcdServer {
  private static let serving: Int32 = 1
  private static let serviceUnknown: Int32 = 3

  func registerGRPCHealth(_ server: GRPCServer) {
    registerV3(
      server, "/grpc.health.v1.Health/Check",
      .unary { [unowned self] call, bytes in
        guard let request: Google_Protobuf_StringValue = decode(call, bytes) else { return }
        guard request.value.isEmpty else {
          return fail(call, V3Error(code: .notFound, message: "unknown service"))
        }
        reply(call, Google_Protobuf_Int32Value(Self.serving))
      })
    // The status never changes, so a watch gets it once and stays open
    // until the client ends it.
    registerV3(
      server, "/grpc.health.v1.Health/Watch",
      .serverStreaming { [unowned self] call, bytes in
        guard let request: Google_Protobuf_StringValue = decode(call, bytes) else { return }
        let status = request.value.isEmpty ? Self.serving : Self.serviceUnknown
        call.send((try? Google_Protobuf_Int32Value(status).serializedBytes()) ?? [])
      })
  }
}
