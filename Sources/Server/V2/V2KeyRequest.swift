/// A /v2/keys request with its parameters checked the way etcd's v2 HTTP
/// layer checks them, in the same order, so the first error reported for a
/// bad request is the one etcd reports.
struct V2KeyRequest: Equatable {
  var method: String
  /// The key, "/" for the root.
  var key: String
  var value: String?
  var dir = false
  var recursive = false
  var sorted = false
  var wait = false
  var waitIndex: UInt64?
  var stream = false
  var quorum = false
  var prevValue: String?
  var prevIndex: UInt64 = 0
  var prevExist: Bool?
  /// Seconds; nil when not given.
  var ttl: UInt64?
  /// `ttl=` given empty: remove the TTL.
  var ttlCleared = false
  var refresh = false
  var noValueOnSuccess = false

  /// An error of the v2 HTTP layer: etcd's code, message and cause, with
  /// index 0 since no store was consulted.
  struct ParseError: Error, Equatable {
    var code: Int
    var message: String
    var cause: String

    static func invalidField(_ cause: String) -> ParseError {
      ParseError(code: 209, message: "Invalid field", cause: cause)
    }
  }

  /// `form` is the request's form values, body values first (Go's
  /// ParseForm order); the first value of a name counts.
  static func parse(method: String, key: String, form: [(name: String, value: String)])
    throws(ParseError) -> V2KeyRequest
  {
    func first(_ name: String) -> String? { form.first { $0.name == name }?.value }
    func index(_ name: String) throws(ParseError) -> UInt64? {
      guard let text = first(name) else { return nil }
      guard let value = UInt64(text) else {
        throw ParseError(
          code: 203, message: "The given index in POST form is not a number",
          cause: "invalid value for \"\(name)\"")
      }
      return value
    }
    func flag(_ name: String, quoted: Bool = true) throws(ParseError) -> Bool? {
      guard let text = first(name) else { return nil }
      guard let value = GoFlagSet.parseBool(text) else {
        throw .invalidField(quoted ? "invalid value for \"\(name)\"" : "invalid value for \(name)")
      }
      return value
    }

    var request = V2KeyRequest(method: method, key: key)
    request.prevIndex = try index("prevIndex") ?? 0
    request.waitIndex = try index("waitIndex")
    request.recursive = try flag("recursive") ?? false
    request.sorted = try flag("sorted") ?? false
    request.wait = try flag("wait") ?? false
    request.dir = try flag("dir") ?? false
    request.quorum = try flag("quorum") ?? false
    request.stream = try flag("stream") ?? false
    if request.wait && method != "GET" {
      throw .invalidField("\"wait\" can only be used with GET requests")
    }
    if let ttl = first("ttl") {
      if ttl.isEmpty {
        request.ttlCleared = true
      } else {
        guard let seconds = UInt64(ttl) else {
          throw ParseError(
            code: 202, message: "The given TTL in POST form is not a number",
            cause: "invalid value for \"ttl\"")
        }
        request.ttl = seconds
      }
    }
    request.prevExist = try flag("prevExist", quoted: false)
    if let prevValue = first("prevValue") {
      guard !prevValue.isEmpty else {
        throw ParseError(
          code: 201, message: "PrevValue is Required in POST form",
          cause: "\"prevValue\" cannot be empty")
      }
      request.prevValue = prevValue
    }
    request.refresh = try flag("refresh", quoted: false) ?? false
    request.noValueOnSuccess = try flag("noValueOnSuccess") ?? false
    request.value = first("value")
    if request.refresh {
      // An empty value counts as none: a refresh keeps the value it has.
      if let value = request.value, !value.isEmpty {
        throw ParseError(
          code: 211, message: "Value provided on refresh",
          cause: "A value was provided on a refresh")
      }
      if request.ttl == nil && !request.ttlCleared {
        throw ParseError(
          code: 212, message: "A TTL must be provided on refresh", cause: "No TTL value set")
      }
    }
    return request
  }
}
