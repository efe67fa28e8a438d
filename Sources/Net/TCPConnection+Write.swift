import CLibUV

extension TCPConnection {
  /// Bytes accepted by `write` that the kernel has not taken yet.
  public var queuedWriteBytes: Int { pending.count + (inFlight?.count ?? 0) }

  /// Queues a copy of `bytes`. Ignored once closing or finishing.
  public func write(_ bytes: UnsafeRawBufferPointer) {
    guard !isClosing, !isFinishing, !bytes.isEmpty else { return }
    pending.append(contentsOf: bytes)
    didEnqueue()
  }

  public func write(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { write($0) }
  }

  /// Sends what is queued, half-closes, then closes on the peer's EOF or
  /// after `limits.lingerMs`. Input arriving meanwhile is discarded.
  public func closeAfterFlush() {
    guard !isClosing, !isFinishing else { return }
    isFinishing = true
    // Reading must go on to see the EOF, whatever the owner asked for.
    wantsReading = true
    isPausedByBackpressure = false
    updateReading()
    if inFlight == nil && pending.isEmpty { shutdownWrites() }
  }

  private func didEnqueue() {
    let queued = queuedWriteBytes
    if queued > limits.hardLimit {
      close(reason: .writeQueueOverflow)
      return
    }
    if queued > limits.highWaterMark && !isPausedByBackpressure && !isFinishing {
      isPausedByBackpressure = true
      updateReading()
    }
    flush()
  }

  private func flush() {
    guard inFlight == nil, !pending.isEmpty, !isClosing else { return }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pending.count, alignment: 1)
    buffer.copyBytes(from: pending)
    // A big burst should not pin its capacity for the connection's lifetime.
    pending.removeAll(keepingCapacity: pending.count <= 64 * 1024)
    inFlight = buffer
    var uvBuffer = uv_buf_init(
      buffer.baseAddress!.assumingMemoryBound(to: CChar.self), UInt32(buffer.count))
    let request = writeRequest.assumingMemoryBound(to: uv_write_t.self)
    let rc = uv_write(request, stream, &uvBuffer, 1) { request, status in
      (LoopHandle.owner(of: request?.pointee.handle) as? TCPConnection)?.didWrite(status)
    }
    if rc < 0 {
      inFlight = nil
      buffer.deallocate()
      close(reason: .uv(rc))
    }
  }

  private func didWrite(_ status: Int32) {
    inFlight?.deallocate()
    inFlight = nil
    guard !isClosing else { return }
    if status < 0 {
      close(reason: .uv(status))
      return
    }
    flush()
    if isFinishing {
      if inFlight == nil { shutdownWrites() }
      return
    }
    if isPausedByBackpressure && queuedWriteBytes <= limits.highWaterMark / 2 {
      isPausedByBackpressure = false
      updateReading()
      onDrain?()
    }
  }

  private func shutdownWrites() {
    let request = shutdownRequest.assumingMemoryBound(to: uv_shutdown_t.self)
    let rc = uv_shutdown(request, stream) { request, _ in
      (LoopHandle.owner(of: request?.pointee.handle) as? TCPConnection)?.didShutdown()
    }
    if rc < 0 { close() }
  }

  private func didShutdown() {
    guard !isClosing else { return }
    if sawPeerEOF {
      close()
      return
    }
    lingerTimer = LoopTimer.after(limits.lingerMs, on: loop) { [weak self] in self?.close() }
  }
}
