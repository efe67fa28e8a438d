import CNghttp2

/// The C callbacks nghttp2 makes from inside `mem_recv` and `mem_send`.
/// Each finds its connection through user_data, which the session retains,
/// and hands over at once; none lets a Swift error or a flush escape into
/// nghttp2.
enum HTTP2Callbacks {
  static func install(in callbacks: OpaquePointer) {
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, user in
      if let frame { connection(user).beginHeaders(frame) }
      return 0
    }
    nghttp2_session_callbacks_set_on_header_callback(callbacks) {
      _, _, name, nameCount, value, valueCount, _, user in
      let accepted = connection(user).header(
        name: UnsafeBufferPointer(start: name, count: nameCount),
        value: UnsafeBufferPointer(start: value, count: valueCount))
      // A temporal failure resets just this stream.
      return accepted ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue
    }
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
      if let frame { connection(user).frameReceived(frame) }
      return 0
    }
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) {
      _, _, stream, data, count, user in
      connection(user).dataReceived(UnsafeRawBufferPointer(start: data, count: count), stream)
      return 0
    }
    nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { _, frame, user in
      if let frame { connection(user).frameSent(frame) }
      return 0
    }
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) {
      _, stream, errorCode, user in
      connection(user).streamClosed(stream, errorCode: errorCode)
      return 0
    }
  }

  /// Every body is pulled through this provider; the stream ID says whose.
  static var bodyProvider: nghttp2_data_provider {
    nghttp2_data_provider(
      source: nghttp2_data_source(ptr: nil),
      read_callback: { _, stream, buffer, length, flags, _, user in
        connection(user).readBody(
          stream, into: UnsafeMutableRawBufferPointer(start: buffer, count: length), flags: flags)
      })
  }
}

/// A free function, not a static method: a closure that becomes a C
/// function pointer may not capture even the metatype.
private func connection(_ user: UnsafeMutableRawPointer?) -> HTTP2Connection {
  Unmanaged<HTTP2Connection>.fromOpaque(user!).takeUnretainedValue()
}

extension HTTP2Connection {
  fileprivate func beginHeaders(_ frame: UnsafePointer<nghttp2_frame>) {
    if frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST { peerStreams += 1 }
    incomingHeaders = HTTPHeaders()
    incomingHeaderBytes = 0
  }

  fileprivate func header(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>)
    -> Bool
  {
    incomingHeaderBytes += name.count + value.count + 32
    guard incomingHeaderBytes <= settings.maxHeaderListBytes else { return false }
    incomingHeaders.add(
      String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
    return true
  }

  fileprivate func frameReceived(_ frame: UnsafePointer<nghttp2_frame>) {
    let header = frame.pointee.hd
    let endsStream = header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
    switch UInt32(header.type) {
    case NGHTTP2_HEADERS.rawValue:
      let headers = incomingHeaders
      incomingHeaders = HTTPHeaders()
      delegate?.http2(self, headers: headers, stream: header.stream_id, endStream: endsStream)
    case NGHTTP2_DATA.rawValue where endsStream:
      delegate?.http2(self, endOfStream: header.stream_id)
    case NGHTTP2_PING.rawValue where header.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) != 0:
      pingAcknowledged()
    case NGHTTP2_PING.rawValue:
      peerPinged()
    case NGHTTP2_GOAWAY.rawValue:
      delegate?.http2(self, goAway: frame.pointee.goaway.last_stream_id)
    default:
      break
    }
  }

  fileprivate func dataReceived(_ bytes: UnsafeRawBufferPointer, _ stream: Int32) {
    delegate?.http2(self, data: bytes, stream: stream)
  }

  /// A server that ended its side of a stream the client still sends on
  /// resets it with NO_ERROR (RFC 9113 §8.1), as grpc-go does, so the
  /// client stops sending and the stream's memory is freed now.
  fileprivate func frameSent(_ frame: UnsafePointer<nghttp2_frame>) {
    let header = frame.pointee.hd
    let type = UInt32(header.type)
    if type == NGHTTP2_HEADERS.rawValue || type == NGHTTP2_DATA.rawValue {
      answeredSincePing = true
    }
    guard role == .server, let session,
      header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0,
      nghttp2_session_get_stream_remote_close(session, header.stream_id) == 0
    else { return }
    nghttp2_submit_rst_stream(
      session, UInt8(NGHTTP2_FLAG_NONE.rawValue), header.stream_id, NGHTTP2_NO_ERROR.rawValue)
  }

  fileprivate func streamClosed(_ stream: Int32, errorCode: UInt32) {
    if role == .server { peerStreams = max(0, peerStreams - 1) }
    delegate?.http2(self, closedStream: stream, errorCode: errorCode)
  }

  fileprivate func readBody(
    _ stream: Int32, into buffer: UnsafeMutableRawBufferPointer,
    flags: UnsafeMutablePointer<UInt32>?
  ) -> Int {
    let chunk =
      delegate?.http2(self, readBody: stream, into: buffer) ?? .end(0, trailers: nil)
    switch chunk {
    case .bytes(let count):
      return count
    case .deferred:
      return Int(NGHTTP2_ERR_DEFERRED.rawValue)
    case .end(let count, let trailers):
      flags?.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
      if let trailers, let session {
        // Trailers follow this last DATA frame, which must not end the stream.
        flags?.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
        _ = withNameValues(trailers) { nghttp2_submit_trailer(session, stream, $0, $1) }
      }
      return count
    }
  }
}
