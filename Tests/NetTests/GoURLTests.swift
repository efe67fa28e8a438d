import Testing

@testable import Net

@Suite("Go's URL rules: path cleaning, escaping, strict forms")
struct GoURLTests {
  @Test(
    "path.Clean and the mux's trailing slash",
    arguments: [
      ("/v2/keys//a", "/v2/keys/a"), ("/v2/keys/x/../a", "/v2/keys/a"),
      ("/v2/keys/a/", "/v2/keys/a/"),
      ("/v2/keys/a/.", "/v2/keys/a"), ("/../a", "/a"), ("/", "/"), ("", "/"), ("a/b", "/a/b"),
      ("/a/b/../../..", "/"), ("//", "/"),
    ])
  func muxPath(input: String, cleaned: String) {
    #expect(GoURL.muxPath(input) == cleaned)
  }

  @Test func cleanKeepsRelativeDotDots() {
    #expect(GoURL.clean("../a/..") == "..")
    #expect(GoURL.clean("") == ".")
  }

  @Test func escapesAsURLDoes() {
    #expect(GoURL.escapePath("/v2/keys/c!") == "/v2/keys/c%21")
    #expect(GoURL.escapePath("/a b/é") == "/a%20b/%C3%A9")
    #expect(GoURL.escapePath("/a$&+,:;=@~") == "/a$&+,:;=@~")
  }

  @Test func parsesForms() {
    let (pairs, error) = GoURL.parseForm(Array("a=1&b=x+y%21&&c&a=2".utf8))
    #expect(error == nil)
    #expect(pairs.map(\.name) == ["a", "b", "c", "a"])
    #expect(pairs.map(\.value) == ["1", "x y!", "", "2"])
  }

  @Test(
    "Go's errors, the first one wins, good pairs are kept",
    arguments: [
      ("x=%zz&y=%", "invalid URL escape \"%zz\""), ("x=%z", "invalid URL escape \"%z\""),
      ("x=%", "invalid URL escape \"%\""), ("x=1;y=2&z=%", "invalid semicolon separator in query"),
      ("%4=1", "invalid URL escape \"%4\""),
    ])
  func errors(input: String, message: String) {
    let (pairs, error) = GoURL.parseForm(Array(("ok=1&" + input).utf8))
    #expect(error == message)
    #expect(pairs.first?.name == "ok")
  }
}
