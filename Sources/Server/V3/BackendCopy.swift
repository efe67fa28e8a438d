import MVCC

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A consistent, compacted copy of the backend's committed state in a
/// temporary file that is unlinked as soon as it exists, so a crash never
/// leaves one behind. Owns the descriptor.
final class BackendCopy: @unchecked Sendable {
  let fd: Int32
  private(set) var size = 0

  enum Failure: Error, CustomStringConvertible {
    case io(String, Int32)
    case store(MVCCError)
    /// Larger than a peer frame can carry.
    case tooLarge(Int)

    var description: String {
      switch self {
      case .io(let operation, let code): "\(operation): \(String(cString: strerror(code)))"
      case .store(let error): "\(error)"
      case .tooLarge(let size): "a backend of \(size) bytes is too large to send to a member"
      }
    }
  }

  /// Copies the latest committed state of `environment` into a temporary
  /// file in `directory`. Blocking: run it off the loop.
  static func make(of environment: LMDBEnvironment, in directory: String) throws(Failure)
    -> BackendCopy
  {
    var template = Array((directory + "/db.copy.XXXXXX").utf8CString)
    let fd = mkstemp(&template)
    guard fd >= 0 else { throw .io("mkstemp", errno) }
    let copy = BackendCopy(fd: fd)
    // Unlinked at once: the descriptor keeps the data until it closes.
    unlink(template)
    do throws(MVCCError) {
      try environment.copyCompacted(toDescriptor: fd, name: "backend copy")
    } catch {
      throw .store(error)
    }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw .io("fstat", errno) }
    copy.size = Int(info.st_size)
    return copy
  }

  private init(fd: Int32) {
    self.fd = fd
  }

  deinit { close(fd) }

  /// Up to `count` bytes at `offset`; fewer only at the end of the copy.
  func read(at offset: Int, count: Int) throws(Failure) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: min(count, size - offset))
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeMutableBytes {
        pread(fd, $0.baseAddress! + done, $0.count - done, off_t(offset + done))
      }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else { throw .io("pread", n == 0 ? EIO : errno) }
      done += n
    }
    return bytes
  }
}
