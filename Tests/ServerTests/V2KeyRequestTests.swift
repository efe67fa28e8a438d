import Testing

@testable import Server

@Suite("v2 keys request parameters, checked as etcd checks them")
struct V2KeyRequestTests {
  func parse(_ method: String = "GET", _ pairs: [(String, String)]) throws(V2KeyRequest.ParseError)
    -> V2KeyRequest
  {
    try V2KeyRequest.parse(method: method, key: "/a", form: pairs.map { (name: $0.0, value: $0.1) })
  }

  // Each expectation is the body etcd 3.4.23 answered for the same request.
  @Test(
    "bad parameters get etcd's code and cause",
    arguments: [
      ([("ttl", "abc")], 202, "invalid value for \"ttl\""),
      ([("ttl", "-5")], 202, "invalid value for \"ttl\""),
      ([("prevIndex", "x")], 203, "invalid value for \"prevIndex\""),
      ([("waitIndex", "x"), ("wait", "true")], 203, "invalid value for \"waitIndex\""),
      ([("recursive", "maybe")], 209, "invalid value for \"recursive\""),
      ([("sorted", "y"), ("recursive", "x")], 209, "invalid value for \"recursive\""),
      ([("wait", "x"), ("recursive", "y")], 209, "invalid value for \"recursive\""),
      ([("dir", "x")], 209, "invalid value for \"dir\""),
      ([("stream", "x")], 209, "invalid value for \"stream\""),
      ([("quorum", "x")], 209, "invalid value for \"quorum\""),
      ([("prevExist", "maybe")], 209, "invalid value for prevExist"),
      ([("refresh", "x")], 209, "invalid value for refresh"),
      ([("noValueOnSuccess", "x")], 209, "invalid value for \"noValueOnSuccess\""),
      ([("prevValue", "")], 201, "\"prevValue\" cannot be empty"),
      ([("refresh", "true"), ("value", "1")], 211, "A value was provided on a refresh"),
      ([("refresh", "true")], 212, "No TTL value set"),
      ([("ttl", "5"), ("prevIndex", "q")], 203, "invalid value for \"prevIndex\""),
      ([("wait", "true")], 209, "\"wait\" can only be used with GET requests"),
      ([("wait", "true"), ("stream", "x")], 209, "invalid value for \"stream\""),
    ])
  func errors(pairs: [(String, String)], code: Int, cause: String) {
    do {
      _ = try parse("PUT", pairs)
      Issue.record("accepted \(pairs)")
    } catch {
      #expect(error.code == code)
      #expect(error.cause == cause)
    }
  }

  @Test("good parameters are read; the first value of a name wins")
  func values() throws {
    let request = try parse(
      "GET",
      [
        ("value", "body"), ("value", "query"), ("ttl", "30"), ("prevExist", "false"),
        ("prevIndex", "7"), ("recursive", "1"), ("sorted", "T"), ("wait", "true"),
        ("waitIndex", "9"), ("stream", "true"), ("quorum", "true"), ("dir", "false"),
      ])
    #expect(request.value == "body")
    #expect(request.ttl == 30 && !request.ttlCleared)
    #expect(request.prevExist == false)
    #expect(request.prevIndex == 7)
    #expect(request.recursive && request.sorted && request.wait && request.stream && request.quorum)
    #expect(request.waitIndex == 9)
    #expect(!request.dir)
    #expect(try parse("PUT", [("ttl", "")]).ttlCleared)
    #expect(try parse("PUT", [("refresh", "true"), ("ttl", "5")]).refresh)
    #expect(
      try parse("PUT", [("refresh", "true"), ("ttl", "5"), ("value", "")]).refresh,
      "an empty value is no value")
  }
}
