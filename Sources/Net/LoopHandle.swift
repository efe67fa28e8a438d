import CLibUV

/// Base of every object that owns one libuv handle.
///
/// While the handle is open libuv holds one retain on the owner through
/// `handle->data`; the close callback gives it back. An owner therefore
/// outlives every callback that can name it, and the handle memory (freed in
/// `deinit`) outlives libuv's last use of it.
public class LoopHandle {
  unowned let loop: EventLoop
  /// `uv_handle_size(type)` bytes, bound to the concrete handle type by subclasses.
  let rawHandle: UnsafeMutableRawPointer
  /// True from the moment `close()` is called; the handle must not be used after.
  public private(set) var isClosing = false

  init(loop: EventLoop, type: uv_handle_type) {
    self.loop = loop
    rawHandle = .allocate(byteCount: uv_handle_size(type), alignment: 16)
  }

  deinit { rawHandle.deallocate() }

  var handle: UnsafeMutablePointer<uv_handle_t> {
    rawHandle.assumingMemoryBound(to: uv_handle_t.self)
  }

  /// Hands libuv its retain; call right after the `uv_*_init` succeeded.
  func adoptHandle() {
    handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
  }

  /// The owner of any handle type (`uv_tcp_t`, `uv_timer_t`, ...) passed to a callback.
  static func owner<Handle>(of pointer: UnsafeMutablePointer<Handle>?) -> LoopHandle? {
    guard let pointer else { return nil }
    let handle = UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: uv_handle_t.self)
    guard let data = handle.pointee.data else { return nil }
    return Unmanaged<LoopHandle>.fromOpaque(data).takeUnretainedValue()
  }

  /// Releases the handle; its close callback runs on a later loop iteration.
  /// Idempotent. Loop thread only.
  public func close() {
    guard !isClosing else { return }
    isClosing = true
    willClose()
    uv_close(handle) { handle in
      guard let handle, let data = handle.pointee.data else { return }
      handle.pointee.data = nil
      Unmanaged<LoopHandle>.fromOpaque(data).takeRetainedValue().didClose()
    }
  }

  /// Runs synchronously inside `close()`, before `uv_close`.
  func willClose() {}
  /// Runs in the close callback: libuv is done with the handle and its requests.
  func didClose() {}
}
