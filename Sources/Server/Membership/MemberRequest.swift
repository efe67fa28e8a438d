/// The body of `POST /v2/members` and `PUT /v2/members/<id>`:
/// `{"peerURLs":["http://host:port", ...]}`, checked as etcd checks it.
struct MemberRequest: Equatable {
  /// Sorted, as etcd keeps a member's URLs.
  var peerURLs: [String]

  struct Invalid: Error, Equatable {
    var message: String
  }

  static func decode(_ body: [UInt8]) throws(Invalid) -> MemberRequest {
    let document: JSONValue
    do {
      document = try JSONValue.parse(body)
    } catch {
      throw Invalid(message: error.message)
    }
    guard case .object(let fields) = document else {
      throw Invalid(
        message: "json: cannot unmarshal \(document.goTypeName) into Go value of type struct")
    }
    // encoding/json matches field names without regard to case.
    let field = fields.first { $0.key.lowercased() == "peerurls" }?.value ?? .null
    var urls: [String] = []
    switch field {
    case .null:
      break
    case .array(let items):
      for item in items {
        guard case .string(let text) = item else {
          throw Invalid(
            message:
              "json: cannot unmarshal \(item.goTypeName) into Go struct field .peerURLs of type string"
          )
        }
        urls.append(text)
      }
    default:
      throw Invalid(
        message:
          "json: cannot unmarshal \(field.goTypeName) into Go struct field .peerURLs of type []string"
      )
    }
    return MemberRequest(peerURLs: try validate(urls).sorted())
  }

  /// etcd's rules for a URL list: a known scheme, host:port, no path.
  static func validate(_ urls: [String]) throws(Invalid) -> [String] {
    guard !urls.isEmpty else { throw Invalid(message: "no valid URLs given") }
    for url in urls {
      let scheme = url.firstRange(of: "://").map { String(url[..<$0.lowerBound]) } ?? ""
      guard ["http", "https", "unix", "unixs"].contains(scheme) else {
        throw Invalid(message: "URL scheme must be http, https, unix, or unixs: \(url)")
      }
      let rest = url.dropFirst(scheme.count + 3)
      let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
      guard hasHostAndPort(authority) else {
        throw Invalid(message: "URL address does not have the form \"host:port\": \(url)")
      }
      guard authority.count == rest.count else {
        throw Invalid(message: "URL must not contain a path: \(url)")
      }
    }
    return urls
  }

  /// Go's net.SplitHostPort accepts "host:port" and "[v6]:port", with an
  /// empty port allowed but a missing colon not.
  private static func hasHostAndPort(_ authority: Substring) -> Bool {
    if authority.hasPrefix("[") {
      guard let close = authority.firstIndex(of: "]") else { return false }
      return authority[authority.index(after: close)...].first == ":"
    }
    return authority.filter { $0 == ":" }.count == 1
  }
}
