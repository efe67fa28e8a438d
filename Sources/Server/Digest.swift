import COpenSSL

/// SHA-1 and SHA-256 from libcrypto. SHA-1 derives member IDs as etcd
/// does; SHA-256 is the checksum etcd appends to a backend snapshot.
final class Digest {
  private let context: OpaquePointer

  /// A running SHA-256.
  static func sha256() -> Digest { Digest(EVP_sha256()) }

  /// The SHA-1 of `message`, at once.
  static func sha1(_ message: [UInt8]) -> [UInt8] {
    let digest = Digest(EVP_sha1())
    digest.update(message)
    return digest.finish()
  }

  private init(_ algorithm: OpaquePointer?) {
    // Allocation is the only way these fail: nothing to recover from.
    guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, algorithm, nil) == 1 else {
      fatalError("libcrypto cannot start a digest")
    }
    self.context = context
  }

  deinit { EVP_MD_CTX_free(context) }

  func update(_ bytes: UnsafeRawBufferPointer) {
    guard bytes.count > 0 else { return }
    EVP_DigestUpdate(context, bytes.baseAddress, bytes.count)
  }

  func update(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { update($0) }
  }

  /// The digest of everything given so far.
  func finish() -> [UInt8] {
    var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    EVP_DigestFinal_ex(context, &out, &length)
    return Array(out.prefix(Int(length)))
  }
}
