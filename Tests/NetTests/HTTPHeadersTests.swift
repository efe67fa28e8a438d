import Testing

@testable import Net

@Suite struct HTTPHeadersTests {
  @Test func namesMatchWithoutRegardToASCIICase() {
    let headers: HTTPHeaders = [
      "Content-Type": "application/json", "Connection": "keep-alive, Close",
    ]
    #expect(headers.values("content-type") == ["application/json"])
    #expect(headers.values("CONTENT-TYPE") == ["application/json"])
    #expect(headers.values("content-typ").isEmpty)
    #expect(headers.values("content_type").isEmpty, "only letters fold")
    #expect(headers.hasToken("close", in: "connection"))
    #expect(!headers.hasToken("clos", in: "connection"))
  }

  @Test func foldingIsASCIIOnly() {
    // "@" | 0x20 is "`": equal after a blind fold, yet different bytes.
    #expect(!HTTPHeaders.matches("a@", "a`"))
    #expect(!HTTPHeaders.matches("[", "{"))
    #expect(HTTPHeaders.matches("X-Etcd-Index", "x-etcd-INDEX"))
  }
}
