/// The v2 API error codes, with etcd's numbers, messages and HTTP statuses.
///
/// Codes 2xx are detected by the HTTP layer while parsing a request; they live here so
/// that one table maps every v2 error to its wire form.
public enum V2ErrorCode: Int, Sendable, CaseIterable {
  /// The key, or a directory on its path, does not exist.
  case keyNotFound = 100
  /// prevValue or prevIndex did not match.
  case testFailed = 101
  /// The operation needs a key but found a directory.
  case notFile = 102
  /// A directory was expected but a key was found on the path.
  case notDir = 104
  /// Create found the key already present.
  case nodeExist = 105
  /// The key lies under a prefix etcd reserves.
  case keyIsPreserved = 106
  /// The root and the internal namespaces cannot be written.
  case rootReadOnly = 107
  /// A directory with children was deleted without recursive.
  case dirNotEmpty = 108
  /// The request lacks credentials.
  case unauthorized = 110
  case valueRequired = 200
  case prevValueRequired = 201
  case ttlNaN = 202
  case indexNaN = 203
  case valueOrTTLRequired = 204
  case timeoutNaN = 205
  case nameRequired = 206
  case indexOrValueRequired = 207
  case indexValueMutex = 208
  case invalidField = 209
  case invalidForm = 210
  /// refresh=true came with a value.
  case refreshValue = 211
  /// refresh=true came without a ttl.
  case refreshTTLRequired = 212
  case raftInternal = 300
  case leaderElect = 301
  /// The store was restored under a waiting watcher.
  case watcherCleared = 400
  /// waitIndex is older than the 1000 events the history keeps.
  case eventIndexCleared = 401

  /// The `message` field exactly as etcd writes it.
  public var message: String {
    switch self {
    case .keyNotFound: "Key not found"
    case .testFailed: "Compare failed"
    case .notFile: "Not a file"
    case .notDir: "Not a directory"
    case .nodeExist: "Key already exists"
    case .keyIsPreserved: "The prefix of given key is a keyword in etcd"
    case .rootReadOnly: "Root is read only"
    case .dirNotEmpty: "Directory not empty"
    case .unauthorized: "The request requires user authentication"
    case .valueRequired: "Value is Required in POST form"
    case .prevValueRequired: "PrevValue is Required in POST form"
    case .ttlNaN: "The given TTL in POST form is not a number"
    case .indexNaN: "The given index in POST form is not a number"
    case .valueOrTTLRequired: "Value or TTL is required in POST form"
    case .timeoutNaN: "The given timeout in POST form is not a number"
    case .nameRequired: "Name is required in POST form"
    case .indexOrValueRequired: "Index or value is required"
    case .indexValueMutex: "Index and value cannot both be specified"
    case .invalidField: "Invalid field"
    case .invalidForm: "Invalid POST form"
    case .refreshValue: "Value provided on refresh"
    case .refreshTTLRequired: "A TTL must be provided on refresh"
    case .raftInternal: "Raft Internal Error"
    case .leaderElect: "During Leader Election"
    case .watcherCleared: "watcher is cleared due to etcd recovery"
    case .eventIndexCleared: "The event in requested index is outdated and cleared"
    }
  }

  /// The HTTP status etcd answers with.
  public var httpStatus: Int {
    switch self {
    case .keyNotFound: 404
    case .notFile, .dirNotEmpty: 403
    case .testFailed, .nodeExist: 412
    case .unauthorized: 401
    case .raftInternal, .leaderElect: 500
    default: 400
    }
  }
}

/// A v2 error as etcd reports it: `{"errorCode":N,"message":...,"cause":...,"index":N}`.
public struct V2Error: Error, Equatable, Sendable {
  public var code: V2ErrorCode
  /// Usually the offending key; for compare failures the "[a != b]" detail.
  public var cause: String
  /// The store's current index when the error happened (etcd's X-Etcd-Index).
  public var index: UInt64

  public init(_ code: V2ErrorCode, cause: String, index: UInt64) {
    self.code = code
    self.cause = cause
    self.index = index
  }

  public var message: String { code.message }
  public var httpStatus: Int { code.httpStatus }
}
