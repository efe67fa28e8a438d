import CNghttp2

/// Frames the protocol above queues. Safe inside delegate calls. Each call
/// but `submitRequest` flushes at the end of the loop iteration, so the
/// frames of all the responses made in one go out in one write.
extension HTTP2Connection {
  /// Response headers, then the body the delegate's `readBody` supplies.
  func submitResponse(stream: Int32, headers: HTTPHeaders) {
    guard let session else { return }
    var provider = HTTP2Callbacks.bodyProvider
    // Fails only for a stream already gone, which needs no answer.
    _ = withNameValues(headers) { nghttp2_submit_response(session, stream, $0, $1, &provider) }
    scheduleFlush()
  }

  /// A header block that ends the stream: a trailers-only response.
  func submitFinalHeaders(stream: Int32, headers: HTTPHeaders) {
    guard let session else { return }
    _ = withNameValues(headers) { nghttp2_submit_response(session, stream, $0, $1, nil) }
    scheduleFlush()
  }

  /// Opens a stream (client side) whose body the delegate's `readBody`
  /// supplies; nil once the connection cannot take new streams. Does not
  /// flush: the caller records the stream first, then flushes, so the
  /// body is never asked for a stream the delegate does not know yet.
  func submitRequest(headers: HTTPHeaders) -> Int32? {
    guard let session, !isClosed, !transport.isClosing else { return nil }
    var provider = HTTP2Callbacks.bodyProvider
    let stream = withNameValues(headers) {
      nghttp2_submit_request(session, nil, $0, $1, &provider, nil)
    }
    return stream > 0 ? stream : nil
  }

  func submitReset(stream: Int32, errorCode: UInt32) {
    guard let session else { return }
    nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream, errorCode)
    scheduleFlush()
  }

  /// The stream's body has more to send after `readBody` deferred.
  func resumeBody(stream: Int32) {
    guard let session else { return }
    // Fails harmlessly when the body was not deferred: then it is still
    // queued, or not yet attached behind its HEADERS, and will be read.
    nghttp2_session_resume_data(session, stream)
    scheduleFlush()
  }

  /// Calls `body` with `headers` as nghttp2 name-value pairs, which point
  /// into one buffer that lives for the call (nghttp2 copies them).
  func withNameValues<R>(_ headers: HTTPHeaders, _ body: (UnsafePointer<nghttp2_nv>, Int) -> R)
    -> R
  {
    precondition(!headers.fields.isEmpty, "an HTTP/2 header block always has fields")
    var bytes: [UInt8] = []
    var spans: [(name: Range<Int>, value: Range<Int>)] = []
    for field in headers.fields {
      let nameStart = bytes.count
      bytes += field.name.utf8
      let valueStart = bytes.count
      bytes += field.value.utf8
      spans.append((nameStart..<valueStart, valueStart..<bytes.count))
    }
    // A non-empty buffer has a base address even when every field is empty.
    bytes.append(0)
    return bytes.withUnsafeMutableBufferPointer { buffer in
      let base = buffer.baseAddress!
      let pairs = spans.map { span in
        nghttp2_nv(
          name: base + span.name.lowerBound, value: base + span.value.lowerBound,
          namelen: span.name.count, valuelen: span.value.count,
          flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
      }
      return pairs.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
    }
  }
}
