import Foundation
import Logging
import Testing
import V2Store

@testable import Server

@Suite("Structured log lines like etcd's zap logger")
struct ZapLogHandlerTests {
  @Test("a line is one JSON object with level, ts, caller, msg and the fields")
  func shape() throws {
    let sink = LogSink.memory()
    var logger = Logger(label: "swetcd") { _ in ZapLogHandler(level: .info, sink: sink) }
    logger[metadataKey: "local-member-id"] = "8e9e05c52164694d"
    logger.info("starting a member", metadata: ["name": "default", "quote": "a\"<b>&\n"])
    logger.debug("not shown at info")
    #expect(sink.captured.count == 1)
    let line = try #require(sink.captured.first)
    #expect(line.hasSuffix("}\n"))
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
    #expect(object["level"] == "info")
    #expect(object["msg"] == "starting a member")
    #expect(object["name"] == "default")
    #expect(object["local-member-id"] == "8e9e05c52164694d")
    #expect(object["quote"] == "a\"<b>&\n")
    #expect(object["caller"]?.contains("ZapLogHandlerTests.swift:") == true)
    let ts = try #require(object["ts"])
    #expect(ts.count == 24 && ts.hasSuffix("Z") && ts.contains("T"))
    #expect(line.hasPrefix("{\"level\":\"info\",\"ts\":"))
  }

  @Test("Go's escaping: <, >, & and control characters become \\u sequences")
  func escaping() {
    #expect(V2JSON.quoted("<a&b>") == "\"\\u003ca\\u0026b\\u003e\"")
    #expect(V2JSON.quoted("tab\there\u{1}") == "\"tab\\there\\u0001\"")
    #expect(V2JSON.quoted("\u{2028}") == "\"\\u2028\"")
    #expect(V2JSON.quoted("héllo") == "\"héllo\"")
  }

  @Test("etcd's level names map to zap's")
  func levels() {
    #expect(ZapLogHandler.zapLevel(ZapLogHandler.level(named: "warn")) == "warn")
    #expect(ZapLogHandler.zapLevel(ZapLogHandler.level(named: "debug")) == "debug")
    #expect(ZapLogHandler.zapLevel(ZapLogHandler.level(named: "fatal")) == "fatal")
    #expect(ZapLogHandler.zapLevel(ZapLogHandler.level(named: "info")) == "info")
  }
}
