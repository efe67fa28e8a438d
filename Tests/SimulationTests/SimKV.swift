#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The replicated state machine of the simulation: a map of strings with a
/// record of which client operations were applied, so a proposal delivered
/// twice by the network takes effect once (as a client session would).
struct SimKV: Equatable {
  var values: [String: String] = [:]
  var appliedOps: Set<String> = []

  /// A put command: `put`, operation id, key, value, separated by NUL bytes.
  static func putCommand(op: String, key: String, value: String) -> [UInt8] {
    Array("put\u{0}\(op)\u{0}\(key)\u{0}\(value)".utf8)
  }

  /// The operation id a put command carries.
  static func operationID(_ data: Data) -> String? {
    let parts = data.split(separator: 0, omittingEmptySubsequences: false)
    guard parts.count == 4 else { return nil }
    return String(decoding: parts[1], as: UTF8.self)
  }

  /// Applies one command; returns the operation id it carried, if it was new.
  mutating func apply(_ data: Data) -> String? {
    let parts = data.split(separator: 0, omittingEmptySubsequences: false)
      .map { String(decoding: $0, as: UTF8.self) }
    guard parts.count == 4, parts[0] == "put" else { return nil }
    guard appliedOps.insert(parts[1]).inserted else { return nil }
    values[parts[2]] = parts[3]
    return parts[1]
  }

  /// A deterministic encoding for snapshots: sorted key/value pairs, then the
  /// applied operation ids, every field NUL-terminated.
  func encoded() -> Data {
    var out: [UInt8] = []
    for key in values.keys.sorted() {
      out += Array(key.utf8) + [0] + Array(values[key]!.utf8) + [0]
    }
    out.append(1)
    for op in appliedOps.sorted() { out += Array(op.utf8) + [0] }
    return Data(out)
  }

  init() {}

  init(decoding data: Data) {
    let bytes = Array(data)
    guard let split = bytes.firstIndex(of: 1) else { return }
    let pairs = bytes[..<split].split(separator: 0, omittingEmptySubsequences: false)
    var i = 0
    while i + 1 < pairs.count {
      values[String(decoding: pairs[i], as: UTF8.self)] = String(
        decoding: pairs[i + 1], as: UTF8.self)
      i += 2
    }
    for op in bytes[(split + 1)...].split(separator: 0) {
      appliedOps.insert(String(decoding: op, as: UTF8.self))
    }
  }
}
