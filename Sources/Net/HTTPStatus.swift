/// Reason phrases for common status codes; others get "Status".
public enum HTTPStatus {
  public static func reason(_ code: Int) -> String {
    switch code {
    case 100: return "Continue"
    case 200: return "OK"
    case 201: return "Created"
    case 204: return "No Content"
    case 301: return "Moved Permanently"
    case 307: return "Temporary Redirect"
    case 400: return "Bad Request"
    case 401: return "Unauthorized"
    case 403: return "Forbidden"
    case 404: return "Not Found"
    case 405: return "Method Not Allowed"
    case 408: return "Request Timeout"
    case 409: return "Conflict"
    case 410: return "Gone"
    case 412: return "Precondition Failed"
    case 413: return "Request Entity Too Large"
    case 415: return "Unsupported Media Type"
    case 421: return "Misdirected Request"
    case 429: return "Too Many Requests"
    case 431: return "Request Header Fields Too Large"
    case 500: return "Internal Server Error"
    case 501: return "Not Implemented"
    case 503: return "Service Unavailable"
    case 504: return "Gateway Timeout"
    default: return "Status"
    }
  }

  /// Statuses whose responses never carry a body (RFC 9110 §6.4.1).
  static func forbidsBody(_ code: Int) -> Bool {
    (100..<200).contains(code) || code == 204 || code == 304
  }
}
