#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The few POSIX file calls defragmentation and size reporting make, with
/// failures as `MVCCError.io`. Nothing retries an fsync: after a failure the
/// kernel may have dropped the dirty pages, so a later success proves nothing.
enum FileOps {
  /// Creates or truncates `path` for writing.
  static func create(_ path: String) throws(MVCCError) -> Int32 {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
    return fd
  }

  static func close(_ fd: Int32) {
    // The descriptor is gone whatever close reports, and the data that
    // matters was fsynced before it.
    _ = closeDescriptor(fd)
  }

  static func sync(_ fd: Int32, path: String) throws(MVCCError) {
    guard fsync(fd) == 0 else { throw .io(operation: "fsync", path: path, errno: errno) }
  }

  /// Writes all of `bytes` at the file's offset.
  static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String)
    throws(MVCCError)
  {
    var offset = 0
    while offset < bytes.count {
      let written = writeDescriptor(fd, bytes.baseAddress! + offset, bytes.count - offset)
      if written < 0 {
        if errno == EINTR { continue }
        throw .io(operation: "write", path: path, errno: errno)
      }
      offset += written
    }
  }

  /// Makes renames and removals inside `directory` durable.
  static func syncDirectory(_ directory: String) throws(MVCCError) {
    let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { throw .io(operation: "open", path: directory, errno: errno) }
    defer { close(fd) }
    try sync(fd, path: directory)
  }

  static func rename(_ from: String, to: String) throws(MVCCError) {
    guard renameFile(from, to) == 0 else {
      throw .io(operation: "rename", path: from, errno: errno)
    }
  }

  /// Removes `path`; a missing file is not an error.
  static func removeIfPresent(_ path: String) throws(MVCCError) {
    guard unlink(path) == 0 || errno == ENOENT else {
      throw .io(operation: "unlink", path: path, errno: errno)
    }
  }

  static func size(_ path: String) throws(MVCCError) -> Int {
    var info = stat()
    guard stat(path, &info) == 0 else { throw .io(operation: "stat", path: path, errno: errno) }
    return Int(info.st_size)
  }

  static func directory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
  }
}

// The C functions under names that FileOps' own members do not shadow.
private func closeDescriptor(_ fd: Int32) -> Int32 { close(fd) }
private func writeDescriptor(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
  write(fd, bytes, count)
}
private func renameFile(_ from: String, _ to: String) -> Int32 { rename(from, to) }
