#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Thin wrappers over the POSIX calls the storage layers make (this module
/// and MVCC), turning `-1` plus `errno` into `StorageError.io`. Nothing here retries an fsync: after a
/// failed fsync the kernel may already have dropped the dirty pages, so a
/// second fsync that succeeds proves nothing (the PostgreSQL "fsyncgate").
public enum Posix {
  static func failure(_ operation: String, _ path: String, _ code: Int32 = errno) -> StorageError {
    .io(operation: operation, path: path, errno: code)
  }

  public static func openFile(_ path: String, flags: Int32, mode: mode_t = 0o644)
    throws(StorageError)
    -> Int32
  {
    while true {
      let fd = open(path, flags | O_CLOEXEC, mode)
      if fd >= 0 { return fd }
      if errno != EINTR { throw failure("open", path) }
    }
  }

  public static func closeFile(_ fd: Int32) {
    // The fd is released even when close reports an error, and every byte
    // that matters was fsynced before, so there is nothing to act on.
    _ = close(fd)
  }

  /// Writes all of `bytes` at `offset`, looping over short writes.
  static func writeAll(
    _ fd: Int32, _ bytes: ArraySlice<UInt8>, at offset: Int, path: String
  ) throws(StorageError) {
    var failure: StorageError?
    bytes.withUnsafeBytes { raw in
      do throws(StorageError) {
        try writeAll(fd, raw, at: offset, path: path)
      } catch {
        failure = error
      }
    }
    if let failure { throw failure }
  }

  public static func writeAll(
    _ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String
  ) throws(StorageError) {
    var done = 0
    while done < bytes.count {
      let written = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
      if written < 0 {
        if errno == EINTR { continue }
        throw failure("pwrite", path)
      }
      if written == 0 { throw failure("pwrite", path, EIO) }
      done += written
    }
  }

  /// Creates (or empties) `path`, writes `bytes` and fsyncs it.
  static func writeNewFile(_ path: String, _ bytes: [UInt8]) throws(StorageError) {
    let fd = try openFile(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
    defer { closeFile(fd) }
    try writeAll(fd, bytes[...], at: 0, path: path)
    try fullSync(fd, path: path)
  }

  public static func fileSize(_ fd: Int32, path: String) throws(StorageError) -> Int {
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw failure("fstat", path) }
    return Int(info.st_size)
  }

  public static func fileSize(atPath path: String) throws(StorageError) -> Int {
    var info = stat()
    guard stat(path, &info) == 0 else { throw failure("stat", path) }
    return Int(info.st_size)
  }

  /// The whole content of the file at `path`.
  static func readFile(_ path: String) throws(StorageError) -> [UInt8] {
    let fd = try openFile(path, flags: O_RDONLY)
    defer { closeFile(fd) }
    let size = try fileSize(fd, path: path)
    var bytes = [UInt8](repeating: 0, count: size)
    var done = 0
    while done < size {
      let got = bytes.withUnsafeMutableBytes { raw in
        pread(fd, raw.baseAddress! + done, size - done, off_t(done))
      }
      if got < 0 {
        if errno == EINTR { continue }
        throw failure("pread", path)
      }
      // The file shrank under us; what was read is all there is.
      if got == 0 { break }
      done += got
    }
    if done < size { bytes.removeLast(size - done) }
    return bytes
  }

  public static func dataSync(_ fd: Int32, path: String) throws(StorageError) {
    guard fdatasync(fd) == 0 else { throw failure("fdatasync", path) }
  }

  public static func fullSync(_ fd: Int32, path: String) throws(StorageError) {
    guard fsync(fd) == 0 else { throw failure("fsync", path) }
  }

  /// Makes creations, renames and unlinks of entries in `directory` durable.
  public static func syncDirectory(_ directory: String) throws(StorageError) {
    let fd = try openFile(directory, flags: O_RDONLY | O_DIRECTORY)
    defer { closeFile(fd) }
    try fullSync(fd, path: directory)
  }

  public static func renameFile(_ from: String, to: String) throws(StorageError) {
    guard rename(from, to) == 0 else { throw failure("rename", from) }
  }

  public static func removeFile(_ path: String) throws(StorageError) {
    guard unlink(path) == 0 || errno == ENOENT else { throw failure("unlink", path) }
  }

  /// Creates `path` if it does not exist yet; true when it was created.
  @discardableResult
  static func makeDirectory(_ path: String) throws(StorageError) -> Bool {
    if mkdir(path, 0o755) == 0 { return true }
    if errno == EEXIST { return false }
    throw failure("mkdir", path)
  }

  /// Creates `path` and any missing parents; each new directory's entry is
  /// made durable by syncing its parent.
  static func makeDirectories(_ path: String) throws(StorageError) {
    var prefix = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
      let parent = prefix.isEmpty ? "/" : prefix
      prefix += "/" + component
      if try makeDirectory(prefix) { try syncDirectory(parent) }
    }
  }

  static func truncateFile(_ fd: Int32, to length: Int, path: String) throws(StorageError) {
    guard ftruncate(fd, off_t(length)) == 0 else { throw failure("ftruncate", path) }
  }

  /// Reserves blocks up to `length` so appends do not allocate (and so the
  /// unwritten tail reads as zeros, which the WAL uses as its end marker).
  static func preallocate(_ fd: Int32, to length: Int, path: String) throws(StorageError) {
    let code = posix_fallocate(fd, 0, off_t(length))
    guard code == 0 else { throw failure("posix_fallocate", path, code) }
  }

  /// Names in `directory`, without "." and "..", in no particular order.
  static func listDirectory(_ directory: String) throws(StorageError) -> [String] {
    guard let stream = opendir(directory) else { throw failure("opendir", directory) }
    defer { closedir(stream) }
    var names: [String] = []
    while let entry = readdir(stream) {
      let name = withUnsafePointer(to: &entry.pointee.d_name) {
        String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return names
  }

  /// `value` as exactly 16 lowercase hex digits, like `%016x`.
  static func hex16(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
  }

  /// Parses `%016x-%016x<suffix>` back into its two numbers.
  static func parseHexPair(_ name: String, suffix: String) -> (UInt64, UInt64)? {
    guard name.hasSuffix(suffix) else { return nil }
    let stem = name.dropLast(suffix.count)
    let parts = stem.split(separator: "-", omittingEmptySubsequences: false)
    let hexDigits = Set("0123456789abcdef")
    guard parts.count == 2, parts[0].count == 16, parts[1].count == 16,
      parts.allSatisfy({ $0.allSatisfy(hexDigits.contains) }),
      let first = UInt64(parts[0], radix: 16), let second = UInt64(parts[1], radix: 16)
    else { return nil }
    return (first, second)
  }
}
