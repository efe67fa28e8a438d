import Logging
import Net
import Server

// swetcd: an etcd 3.4-compatible member. Reads etcd's flags, ETCD_*
// variables or a YAML --config-file, then runs one member on a libuv loop
// until SIGINT or SIGTERM.
#if canImport(Glibc)
  import Glibc
#endif

func environmentVariables() -> [String: String] {
  var result: [String: String] = [:]
  var cursor = environ
  while let entry = cursor.pointee {
    let text = String(cString: entry)
    if let eq = text.firstIndex(of: "=") {
      result[String(text[..<eq])] = String(text[text.index(after: eq)...])
    }
    cursor += 1
  }
  return result
}

struct FileError: Error, CustomStringConvertible {
  var description: String
}

func readTextFile(_ path: String) throws -> String {
  guard let file = fopen(path, "rb") else {
    throw FileError(description: String(cString: strerror(errno)))
  }
  defer { fclose(file) }
  var bytes: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 65536)
  while true {
    let n = fread(&chunk, 1, chunk.count, file)
    if n == 0 { break }
    bytes += chunk[..<n]
  }
  return String(decoding: bytes, as: UTF8.self)
}

func printError(_ text: String) {
  let bytes = Array((text + "\n").utf8)
  _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

let loaded: LoadedConfig
do {
  loaded = try ConfigLoader.load(
    arguments: Array(CommandLine.arguments.dropFirst()), environment: environmentVariables(),
    readFile: readTextFile)
} catch {
  printError("\(error)")
  printError(ConfigLoader.usage)
  exit(2)
}
if loaded.showVersion {
  print("etcd Version: \(EtcdServer.version)")
  print("Git SHA: swetcd")
  print("Go Version: none (swetcd, Swift)")
  print("Go OS/Arch: linux/amd64")
  exit(0)
}
if loaded.showHelp {
  print(ConfigLoader.usage)
  exit(0)
}

let config = loaded.config
let sink: LogSink = config.logOutputs.contains("stdout") ? .standardOutput : .standardError
LoggingSystem.bootstrap { _ in
  ZapLogHandler(level: ZapLogHandler.level(named: config.logLevel), sink: sink)
}
let logger = Logger(label: "swetcd")
for notice in loaded.notices {
  if notice.hasPrefix("unrecognized") {
    logger.warning("\(notice)")
  } else {
    logger.info("\(notice)")
  }
}

let loop: EventLoop
do {
  loop = try EventLoop()
} catch {
  printError("cannot start the event loop: \(error)")
  exit(1)
}
let server = EtcdServer(config: config, loop: loop, logger: logger)
do {
  try server.start()
} catch {
  logger.critical("cannot start the member", metadata: ["error": "\(error)"])
  exit(1)
}
// A parent may have left these signals blocked or ignored (a test runner, a
// supervisor); the member must hear them to shut down cleanly.
var shutdownSignals = sigset_t()
sigemptyset(&shutdownSignals)
for signal in [SIGINT, SIGTERM] {
  sigaddset(&shutdownSignals, signal)
  Glibc.signal(signal, SIG_DFL)
}
pthread_sigmask(SIG_UNBLOCK, &shutdownSignals, nil)
var signalWatchers: [SignalWatcher] = []
for signal in [SIGINT, SIGTERM] {
  if let watcher = try? SignalWatcher(
    loop: loop, signal: signal,
    { received in
      logger.info("received signal; shutting down", metadata: ["signal": "\(received)"])
      for watcher in signalWatchers { watcher.close() }
      server.stop { loop.stop() }
    })
  {
    signalWatchers.append(watcher)
  }
}
loop.run()
logger.info("stopped")
exit(0)
