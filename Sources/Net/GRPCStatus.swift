/// gRPC's status codes (grpc/doc/statuscodes.md), numbered as on the wire.
public enum GRPCStatusCode: Int, Sendable, CaseIterable {
  case ok = 0
  case cancelled = 1
  case unknown = 2
  case invalidArgument = 3
  case deadlineExceeded = 4
  case notFound = 5
  case alreadyExists = 6
  case permissionDenied = 7
  case resourceExhausted = 8
  case failedPrecondition = 9
  case aborted = 10
  case outOfRange = 11
  case unimplemented = 12
  case internalError = 13
  case unavailable = 14
  case dataLoss = 15
  case unauthenticated = 16

  /// grpc-go's name for the code, as its error strings print it.
  public var name: String {
    switch self {
    case .ok: return "OK"
    case .cancelled: return "Canceled"
    case .unknown: return "Unknown"
    case .invalidArgument: return "InvalidArgument"
    case .deadlineExceeded: return "DeadlineExceeded"
    case .notFound: return "NotFound"
    case .alreadyExists: return "AlreadyExists"
    case .permissionDenied: return "PermissionDenied"
    case .resourceExhausted: return "ResourceExhausted"
    case .failedPrecondition: return "FailedPrecondition"
    case .aborted: return "Aborted"
    case .outOfRange: return "OutOfRange"
    case .unimplemented: return "Unimplemented"
    case .internalError: return "Internal"
    case .unavailable: return "Unavailable"
    case .dataLoss: return "DataLoss"
    case .unauthenticated: return "Unauthenticated"
    }
  }
}

/// How a call ended: a code and a human-readable message.
public struct GRPCStatus: Error, Equatable, Sendable, CustomStringConvertible {
  public var code: GRPCStatusCode
  public var message: String

  public init(_ code: GRPCStatusCode, _ message: String = "") {
    self.code = code
    self.message = message
  }

  public static let ok = GRPCStatus(.ok)

  /// grpc-go's form, which etcdctl prints.
  public var description: String { "rpc error: code = \(code.name) desc = \(message)" }
}

extension GRPCStatus {
  /// The status a client reports when the server's headers or trailers
  /// say nothing valid about it: from `grpc-status` (an unknown number is
  /// UNKNOWN), else from the HTTP status (gRPC's http-grpc-status-mapping).
  init(trailers: HTTPHeaders) {
    guard let value = trailers["grpc-status"] else {
      self = GRPCStatus(httpStatus: trailers[":status"] ?? "")
      return
    }
    let code = Int(value).flatMap(GRPCStatusCode.init(rawValue:)) ?? .unknown
    self.init(code, GRPCPercentEncoding.decode(trailers["grpc-message"] ?? ""))
  }

  init(httpStatus: String) {
    let code: GRPCStatusCode
    switch httpStatus {
    case "400": code = .internalError
    case "401": code = .unauthenticated
    case "403": code = .permissionDenied
    case "404": code = .unimplemented
    case "429", "502", "503", "504": code = .unavailable
    case "200": code = .internalError
    default: code = .unknown
    }
    let message =
      httpStatus == "200"
      ? "server closed the stream without sending trailers"
      : "unexpected HTTP status code received from server: \(httpStatus) (\(HTTPStatus.reason(Int(httpStatus) ?? 0)))"
    self.init(code, message)
  }

  /// The status after a RST_STREAM with `errorCode`, as grpc-go reports it.
  init(resetCode errorCode: UInt32) {
    let names = [
      "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
      "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
      "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
    ]
    let code: GRPCStatusCode
    switch errorCode {
    case 0x3, 0xB: code = .resourceExhausted
    case 0x7: code = .unavailable
    case 0x8: code = .cancelled
    case 0xC: code = .permissionDenied
    default: code = .internalError
    }
    let name = errorCode < names.count ? names[Int(errorCode)] : "unknown error code \(errorCode)"
    self.init(code, "stream terminated by RST_STREAM with error code: \(name)")
  }

  /// The fields that carry this status: `grpc-status` and, unless empty,
  /// the percent-encoded `grpc-message`.
  var fields: [(name: String, value: String)] {
    var fields = [(name: "grpc-status", value: String(code.rawValue))]
    if !message.isEmpty {
      fields.append((name: "grpc-message", value: GRPCPercentEncoding.encode(message)))
    }
    return fields
  }
}

/// grpc-message's encoding (gRPC over HTTP/2, "Responses"): bytes outside
/// printable ASCII, and '%', become %XX.
enum GRPCPercentEncoding {
  static func encode(_ text: String) -> String {
    var output: [UInt8] = []
    for byte in text.utf8 {
      if (0x20...0x7E).contains(byte) && byte != UInt8(ascii: "%") {
        output.append(byte)
      } else {
        output += Array("%".utf8) + hexDigits(byte)
      }
    }
    return String(decoding: output, as: UTF8.self)
  }

  /// Decodes %XX sequences; a malformed one stays as it was, as the spec
  /// asks of receivers.
  static func decode(_ text: String) -> String {
    let bytes = Array(text.utf8)
    guard bytes.contains(UInt8(ascii: "%")) else { return text }
    var output: [UInt8] = []
    var index = 0
    while index < bytes.count {
      if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
        let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2])
      {
        output.append(high << 4 | low)
        index += 3
      } else {
        output.append(bytes[index])
        index += 1
      }
    }
    return String(decoding: output, as: UTF8.self)
  }

  private static func hexDigits(_ byte: UInt8) -> [UInt8] {
    let digits = Array("0123456789ABCDEF".utf8)
    return [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]]
  }

  private static func hexValue(_ digit: UInt8) -> UInt8? {
    switch digit {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
    default: return nil
    }
  }
}
