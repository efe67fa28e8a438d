import Logging
import Synchronization
import V2Store

#if canImport(Glibc)
  import Glibc
#endif

/// Writes one JSON object per line, shaped like the lines etcd's zap logger
/// prints, so tools that read etcd's logs read ours:
/// `{"level":"info","ts":"2026-11-22T03:12:34.984Z","caller":"swetcd/main.swift:12","msg":"...","key":"value"}`
public struct ZapLogHandler: LogHandler {
  public var metadata: Logger.Metadata = [:]
  public var metadataProvider: Logger.MetadataProvider?
  public var logLevel: Logger.Level
  private let sink: LogSink

  public init(level: Logger.Level, sink: LogSink = .standardError) {
    self.logLevel = level
    self.sink = sink
  }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  public func log(event: LogEvent) {
    var line = "{\"level\":\"\(Self.zapLevel(event.level))\",\"ts\":\"\(Self.timestamp())\""
    let file = event.file.split(separator: "/").suffix(2).joined(separator: "/")
    line += ",\"caller\":" + V2JSON.quoted("\(file):\(event.line)")
    line += ",\"msg\":" + V2JSON.quoted("\(event.message)")
    var fields = metadata
    if let provided = metadataProvider?.get() { fields.merge(provided) { $1 } }
    if let extra = event.metadata { fields.merge(extra) { $1 } }
    for key in fields.keys.sorted() {
      line += "," + V2JSON.quoted(key) + ":" + Self.json(fields[key]!)
    }
    line += "}\n"
    sink.write(line)
  }

  /// zap's level names.
  static func zapLevel(_ level: Logger.Level) -> String {
    switch level {
    case .trace, .debug: "debug"
    case .info, .notice: "info"
    case .warning: "warn"
    case .error: "error"
    case .critical: "fatal"
    }
  }

  /// etcd's log level names mapped to ours.
  public static func level(named name: String) -> Logger.Level {
    switch name {
    case "debug": .debug
    case "warn": .warning
    case "error": .error
    case "panic", "fatal": .critical
    default: .info
    }
  }

  private static func json(_ value: Logger.Metadata.Value) -> String {
    switch value {
    case .string(let text): V2JSON.quoted(text)
    case .stringConvertible(let convertible): V2JSON.quoted(convertible.description)
    case .array(let items): "[" + items.map(json).joined(separator: ",") + "]"
    case .dictionary(let dict):
      "{"
        + dict.keys.sorted().map { V2JSON.quoted($0) + ":" + json(dict[$0]!) }
        .joined(separator: ",") + "}"
    }
  }

  /// ISO 8601 UTC with milliseconds, as zap's ISO8601TimeEncoder prints.
  static func timestamp() -> String {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    var seconds = now.tv_sec
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func pad(_ n: Int32, _ width: Int) -> String {
      let text = String(n)
      return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
      + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
      + "\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
  }
}

/// Where log lines go: standard error (etcd's default), standard output, or
/// a buffer for tests. Lines from several threads never interleave.
public final class LogSink: Sendable {
  private enum Target {
    case descriptor(Int32)
    case memory
  }

  private let target: Target
  private let lines = Mutex<[String]>([])

  private init(_ target: Target) {
    self.target = target
  }

  public static let standardError = LogSink(.descriptor(2))
  public static let standardOutput = LogSink(.descriptor(1))

  public static func memory() -> LogSink { LogSink(.memory) }

  public var captured: [String] { lines.withLock { $0 } }

  func write(_ line: String) {
    switch target {
    case .memory:
      lines.withLock { $0.append(line) }
    case .descriptor(let fd):
      lines.withLock { _ in
        var bytes = Array(line.utf8)
        var offset = 0
        while offset < bytes.count {
          let n = bytes.withUnsafeMutableBytes {
            Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset)
          }
          if n <= 0 { break }
          offset += n
        }
      }
    }
  }
}
