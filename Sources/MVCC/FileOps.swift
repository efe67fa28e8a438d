import Storage

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Storage's POSIX wrappers, for defragmentation, received copies and size
/// reporting, with failures as `MVCCError.io`.
enum FileOps {
  /// Creates or truncates `path` for writing.
  static func create(_ path: String) throws(MVCCError) -> Int32 {
    try mapped { () throws(StorageError) in
      try Posix.openFile(path, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600)
    }
  }

  static func close(_ fd: Int32) { Posix.closeFile(fd) }

  static func sync(_ fd: Int32, path: String) throws(MVCCError) {
    try mapped { () throws(StorageError) in try Posix.fullSync(fd, path: path) }
  }

  /// Writes all of `bytes` at the start of the new file `fd`.
  static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String)
    throws(MVCCError)
  {
    try mapped { () throws(StorageError) in try Posix.writeAll(fd, bytes, at: 0, path: path) }
  }

  /// Makes renames and removals inside `directory` durable.
  static func syncDirectory(_ directory: String) throws(MVCCError) {
    try mapped { () throws(StorageError) in try Posix.syncDirectory(directory) }
  }

  static func rename(_ from: String, to: String) throws(MVCCError) {
    try mapped { () throws(StorageError) in try Posix.renameFile(from, to: to) }
  }

  /// Removes `path`; a missing file is not an error.
  static func removeIfPresent(_ path: String) throws(MVCCError) {
    try mapped { () throws(StorageError) in try Posix.removeFile(path) }
  }

  static func size(_ path: String) throws(MVCCError) -> Int {
    try mapped { () throws(StorageError) in try Posix.fileSize(atPath: path) }
  }

  static func directory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
  }

  private static func mapped<T>(_ body: () throws(StorageError) -> T) throws(MVCCError) -> T {
    do {
      return try body()
    } catch {
      guard case .io(let operation, let path, let errno) = error else {
        throw .io(operation: "\(error)", path: "", errno: 0)
      }
      throw .io(operation: operation, path: path, errno: errno)
    }
  }
}
