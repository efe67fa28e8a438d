import CHTTPParser

/// http-parser wrapped as a state machine: bytes in, events out.
///
/// Feeding may complete several pipelined requests at once. After a
/// `.failure` the parser is dead and ignores further input; the caller
/// answers with the given status and closes. Limits are checked as the bytes
/// arrive, so an oversized request is refused before its body is read.
final class HTTPRequestParser {
  struct Limits {
    /// Request line plus header fields, as received.
    var maxHeaderBytes: Int
    /// Decoded body bytes, whether Content-Length or chunked.
    var maxBodyBytes: Int
  }

  enum Event {
    /// Headers are in and the client waits for "100 Continue" before the body.
    case expectsContinue
    case request(HTTPRequest)
    /// Malformed (400), headers too large (431), body too large (413).
    case failure(status: Int)
  }

  private let limits: Limits
  private let parser = UnsafeMutablePointer<http_parser>.allocate(capacity: 1)
  private var settings = http_parser_settings()
  private var events: [Event] = []
  private var failureStatus: Int?
  private(set) var isFailed = false
  /// True from a request's first byte until it is complete: the span the
  /// connection's read timeout measures.
  private(set) var isReadingRequest = false

  private var target: [UInt8] = []
  private var headers = HTTPHeaders()
  private var fieldName: [UInt8] = []
  private var fieldValue: [UInt8] = []
  private var isInValue = false
  private var headerBytes = 0
  private var body: [UInt8] = []

  init(limits: Limits) {
    self.limits = limits
    http_parser_init(parser, HTTP_REQUEST)
    http_parser_settings_init(&settings)
    settings.on_message_begin = { HTTPRequestParser.from($0)?.messageBegin() ?? -1 }
    settings.on_url = { HTTPRequestParser.from($0)?.url($1, $2) ?? -1 }
    settings.on_header_field = { HTTPRequestParser.from($0)?.headerField($1, $2) ?? -1 }
    settings.on_header_value = { HTTPRequestParser.from($0)?.headerValue($1, $2) ?? -1 }
    settings.on_headers_complete = { HTTPRequestParser.from($0)?.headersComplete() ?? -1 }
    settings.on_body = { HTTPRequestParser.from($0)?.bodyBytes($1, $2) ?? -1 }
    settings.on_message_complete = { HTTPRequestParser.from($0)?.messageComplete() ?? -1 }
    parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
  }

  deinit { parser.deallocate() }

  func feed(_ bytes: UnsafeRawBufferPointer) -> [Event] {
    guard !isFailed, !bytes.isEmpty else { return [] }
    let parsed = http_parser_execute(
      parser, &settings, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), bytes.count)
    let errno = http_errno(rawValue: parser.pointee.http_errno)
    if errno != HPE_OK || (parsed != bytes.count && parser.pointee.upgrade == 0) {
      isFailed = true
      let status = failureStatus ?? (errno == HPE_HEADER_OVERFLOW ? 431 : 400)
      events.append(.failure(status: status))
    }
    defer { events = [] }
    return events
  }

  private static func from(_ parser: UnsafeMutablePointer<http_parser>?) -> HTTPRequestParser? {
    guard let data = parser?.pointee.data else { return nil }
    return Unmanaged<HTTPRequestParser>.fromOpaque(data).takeUnretainedValue()
  }

  private func fail(_ status: Int) -> Int32 {
    failureStatus = status
    return -1
  }

  private func countHeaderBytes(_ count: Int) -> Bool {
    headerBytes += count
    return headerBytes <= limits.maxHeaderBytes
  }

  private func messageBegin() -> Int32 {
    isReadingRequest = true
    target = []
    headers = HTTPHeaders()
    fieldName = []
    fieldValue = []
    isInValue = false
    headerBytes = 0
    body = []
    return 0
  }

  private func url(_ at: UnsafePointer<CChar>?, _ length: Int) -> Int32 {
    guard countHeaderBytes(length) else { return fail(431) }
    target.append(contentsOf: UnsafeRawBufferPointer(start: at, count: length))
    return 0
  }

  private func headerField(_ at: UnsafePointer<CChar>?, _ length: Int) -> Int32 {
    // ": " and CRLF per field count too, so many empty fields cannot slip by.
    guard countHeaderBytes(length + (isInValue || fieldName.isEmpty ? 4 : 0)) else {
      return fail(431)
    }
    if isInValue { commitField() }
    fieldName.append(contentsOf: UnsafeRawBufferPointer(start: at, count: length))
    return 0
  }

  private func headerValue(_ at: UnsafePointer<CChar>?, _ length: Int) -> Int32 {
    guard countHeaderBytes(length) else { return fail(431) }
    isInValue = true
    fieldValue.append(contentsOf: UnsafeRawBufferPointer(start: at, count: length))
    return 0
  }

  private func commitField() {
    headers.add(
      String(decoding: fieldName, as: UTF8.self), String(decoding: fieldValue, as: UTF8.self))
    fieldName = []
    fieldValue = []
    isInValue = false
  }

  private func headersComplete() -> Int32 {
    if !fieldName.isEmpty { commitField() }
    // Go's server refuses a target whose path has a broken escape before
    // any handler; its query is the handler's to refuse.
    let pathEnd = target.firstIndex { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }
    guard PercentDecoding.isValid(target[..<(pathEnd ?? target.endIndex)]) else {
      return fail(400)
    }
    if let length = headers["Content-Length"], let count = Int(length), count > limits.maxBodyBytes
    {
      return fail(413)
    }
    if headers.hasToken("100-continue", in: "Expect") { events.append(.expectsContinue) }
    return 0
  }

  private func bodyBytes(_ at: UnsafePointer<CChar>?, _ length: Int) -> Int32 {
    guard body.count + length <= limits.maxBodyBytes else { return fail(413) }
    body.append(contentsOf: UnsafeRawBufferPointer(start: at, count: length))
    return 0
  }

  private func messageComplete() -> Int32 {
    let method = String(cString: http_method_str(http_method(rawValue: parser.pointee.method)))
    // Upgrades are not served; answering and closing is the safe reading.
    let keepAlive = http_should_keep_alive(parser) != 0 && parser.pointee.upgrade == 0
    let request = HTTPRequest(
      method: method, target: String(decoding: target, as: UTF8.self), headers: headers,
      body: body, version: (Int(parser.pointee.http_major), Int(parser.pointee.http_minor)),
      keepAlive: keepAlive)
    events.append(.request(request))
    isReadingRequest = false
    return 0
  }
}
