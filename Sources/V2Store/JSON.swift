/// The v2 HTTP bodies, byte for byte as etcd's Go `encoding/json` writes them.
///
/// Field order follows etcd's struct declarations; empty fields are omitted where etcd
/// tags them `omitempty`. The HTTP layer appends the "\n" Go's encoder adds.
public enum V2JSON {
  /// An event body. `trimmingPrefix` removes the store namespace (etcd's "/1") from
  /// every key, leaving the root's key empty and therefore omitted.
  /// `noValueOnSuccess` writes only the action, as etcd does for that flag.
  public static func encode(
    _ event: Event, trimmingPrefix prefix: String = "", noValueOnSuccess: Bool = false
  ) -> String {
    var out = "{\"action\":"
    appendString(event.action.rawValue, to: &out)
    if !noValueOnSuccess {
      out += ",\"node\":"
      appendNode(event.node, prefix: prefix, to: &out)
      if let prev = event.prevNode {
        out += ",\"prevNode\":"
        appendNode(prev, prefix: prefix, to: &out)
      }
    }
    out += "}"
    return out
  }

  /// An error body; the cause loses `trimmingPrefix` as etcd trims it.
  public static func encode(_ error: V2Error, trimmingPrefix prefix: String = "") -> String {
    var out = "{\"errorCode\":\(error.code.rawValue),\"message\":"
    appendString(error.message, to: &out)
    let cause = trim(error.cause, prefix: prefix)
    if !cause.isEmpty {
      out += ",\"cause\":"
      appendString(cause, to: &out)
    }
    out += ",\"index\":\(error.index)}"
    return out
  }

  private static func trim(_ key: String, prefix: String) -> String {
    guard !prefix.isEmpty, key.hasBytePrefix(prefix) else { return key }
    return String(decoding: key.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
  }

  private static func appendNode(_ node: NodeView, prefix: String, to out: inout String) {
    var fields: [String] = []
    let key = trim(node.key, prefix: prefix)
    if !key.isEmpty { fields.append("\"key\":" + quoted(key)) }
    if let value = node.value { fields.append("\"value\":" + quoted(value)) }
    if node.dir { fields.append("\"dir\":true") }
    if let expiration = node.expiration {
      fields.append("\"expiration\":\"" + rfc3339Nano(expiration) + "\"")
    }
    if node.ttl != 0 { fields.append("\"ttl\":\(node.ttl)") }
    if !node.nodes.isEmpty {
      var list = "\"nodes\":["
      for (position, child) in node.nodes.enumerated() {
        if position > 0 { list += "," }
        appendNode(child, prefix: prefix, to: &list)
      }
      fields.append(list + "]")
    }
    if node.modifiedIndex != 0 { fields.append("\"modifiedIndex\":\(node.modifiedIndex)") }
    if node.createdIndex != 0 { fields.append("\"createdIndex\":\(node.createdIndex)") }
    out += "{" + fields.joined(separator: ",") + "}"
  }

  /// `string` as a JSON string literal, escaped as etcd's Go encoder escapes it.
  public static func quoted(_ string: String) -> String {
    var out = ""
    appendString(string, to: &out)
    return out
  }

  /// Go's string encoding with HTML escaping on (json.Marshal's default). The Go that
  /// built Debian's etcd 3.4.23 writes \b and \f as \u0008 and \u000c.
  static func appendString(_ string: String, to out: inout String) {
    let hex: [Character] = Array("0123456789abcdef")
    out += "\""
    for scalar in string.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case "<", ">", "&", "\u{2028}", "\u{2029}", "\u{0}"..."\u{1f}":
        let value = Int(scalar.value)
        out += "\\u"
        for shift in [12, 8, 4, 0] {
          out.append(hex[(value >> shift) & 0xf])
        }
      default:
        out.unicodeScalars.append(scalar)
      }
    }
    out += "\""
  }

  /// Go's `time.RFC3339Nano` in UTC: trailing zeros of the fraction dropped, and the
  /// dot too when the fraction is zero.
  public static func rfc3339Nano(_ time: StoreTime) -> String {
    let nanosPerSecond: Int64 = 1_000_000_000
    let total = time.nanosecondsSinceEpoch
    var seconds = total / nanosPerSecond
    var nanos = total % nanosPerSecond
    if nanos < 0 {
      nanos += nanosPerSecond
      seconds -= 1
    }
    var days = seconds / 86_400
    var secondOfDay = seconds % 86_400
    if secondOfDay < 0 {
      secondOfDay += 86_400
      days -= 1
    }
    let (year, month, day) = civilDate(daysSinceEpoch: days)
    var out =
      pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(secondOfDay / 3600, 2)
      + ":" + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2)
    if nanos != 0 {
      var fraction = pad(nanos, 9)
      while fraction.hasSuffix("0") { fraction.removeLast() }
      out += "." + fraction
    }
    return out + "Z"
  }

  private static func pad(_ value: Int64, _ width: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
  }

  /// Howard Hinnant's days-to-civil conversion (proleptic Gregorian calendar).
  private static func civilDate(daysSinceEpoch: Int64) -> (Int64, Int64, Int64) {
    let z = daysSinceEpoch + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let shiftedMonth = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
    let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    return (year, month, day)
  }
}
