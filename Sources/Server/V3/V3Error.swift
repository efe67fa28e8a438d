import EtcdProto
import Net
import SwiftProtobuf

/// A v3 request's failure as etcd reports it: a gRPC status code and
/// etcd's message, which clients (etcdctl, clientv3) match on.
struct V3Error: Error, Equatable, CustomStringConvertible {
  var code: GRPCStatusCode
  var message: String

  var description: String { message }

  static let emptyKey = V3Error(code: .invalidArgument, message: "etcdserver: key is not provided")
  static let keyNotFound = V3Error(code: .invalidArgument, message: "etcdserver: key not found")
  static let valueProvided = V3Error(
    code: .invalidArgument, message: "etcdserver: value is provided")
  static let leaseProvided = V3Error(
    code: .invalidArgument, message: "etcdserver: lease is provided")
  static let tooManyOps = V3Error(
    code: .invalidArgument, message: "etcdserver: too many operations in txn request")
  static let duplicateKey = V3Error(
    code: .invalidArgument, message: "etcdserver: duplicate key given in txn request")
  static let invalidSortOption = V3Error(
    code: .invalidArgument, message: "etcdserver: invalid sort option")
  static let compacted = V3Error(
    code: .outOfRange, message: "etcdserver: mvcc: required revision has been compacted")
  static let futureRevision = V3Error(
    code: .outOfRange, message: "etcdserver: mvcc: required revision is a future revision")
  static let corrupt = V3Error(code: .dataLoss, message: "etcdserver: corrupt cluster")
  static let noSpace = V3Error(
    code: .resourceExhausted, message: "etcdserver: mvcc: database space exceeded")
  static let requestTooLarge = V3Error(
    code: .invalidArgument, message: "etcdserver: request is too large")
  static let tooManyRequests = V3Error(
    code: .resourceExhausted, message: "etcdserver: too many requests")
  static let leaseNotFound = V3Error(
    code: .notFound, message: "etcdserver: requested lease not found")
  static let leaseTTLTooLarge = V3Error(
    code: .outOfRange, message: "etcdserver: too large lease TTL")
  static let notLeader = V3Error(code: .failedPrecondition, message: "etcdserver: not leader")
  static let noLeader = V3Error(code: .unavailable, message: "etcdserver: no leader")
  static let leaderChanged = V3Error(code: .unavailable, message: "etcdserver: leader changed")
  static let stopped = V3Error(code: .unavailable, message: "etcdserver: server stopped")
  static let timeout = V3Error(code: .unavailable, message: "etcdserver: request timed out")
  static let canceled = V3Error(code: .cancelled, message: "etcdserver: request cancelled")
  static let unhealthyCluster = V3Error(
    code: .unavailable, message: "etcdserver: unhealthy cluster")
  static let notCapable = V3Error(code: .unavailable, message: "etcdserver: not capable")
  static let learnerNotSupported = V3Error(
    code: .unavailable, message: "etcdserver: rpc not supported for learner")
  static let badMemberURLs = V3Error(
    code: .invalidArgument, message: "etcdserver: given member URLs are invalid")
  // etcd 3.4 returns this one without a gRPC code, so clients see Unknown.
  static let notEnoughStarted = V3Error(
    code: .unknown,
    message: "etcdserver: re-configuration failed due to not enough started members")
  static let tooManyLearners = V3Error(
    code: .failedPrecondition, message: "etcdserver: too many learner members in cluster")
  static let notLearner = V3Error(
    code: .failedPrecondition, message: "etcdserver: can only promote a learner member")
  static let learnerNotReady = V3Error(
    code: .failedPrecondition,
    message: "etcdserver: can only promote a learner member which is in sync with leader")
}

extension V3Error {
  /// etcd's gRPC answer to a refused membership change; a removed ID is
  /// reported as not found.
  init(_ error: MembershipError) {
    switch error {
    case .idExists, .peerURLExists:
      self.init(code: .failedPrecondition, message: error.description)
    case .notFound, .idRemoved:
      self.init(code: .notFound, message: MembershipError.notFound.description)
    }
  }
}

extension V3Error {
  /// grpc-go's answer to a request message that does not decode. After
  /// the prefix comes the decoder's own complaint: a message cut short is
  /// "unexpected EOF" in Go's words too; other faults are named in
  /// swift-protobuf's terms, since gogoproto's texts name the field and
  /// wire type it tripped on.
  static func unmarshalling(_ error: any Error) -> V3Error {
    let detail =
      switch error as? BinaryDecodingError {
      case .truncated: "unexpected EOF"
      case .invalidUTF8: "proto: invalid UTF-8 in a string field"
      case .messageDepthLimit: "proto: message nested too deeply"
      default: "proto: malformed wire-format data"
      }
    return V3Error(code: .internalError, message: "grpc: error unmarshalling request: " + detail)
  }

  /// Decodes a request message, or gives grpc-go's error for it.
  static func decode<Request: SwiftProtobuf.Message>(
    _ bytes: [UInt8], options: BinaryDecodingOptions = BinaryDecodingOptions()
  ) -> Result<Request, V3Error> {
    do {
      return .success(try Request(serializedBytes: bytes, options: options))
    } catch BinaryDecodingError.messageDepthLimit where Request.self == Etcdserverpb_TxnRequest.self
    {
      // Nested deeper than the limit, a txn has spent its op budget:
      // etcd decodes it and refuses it for that.
      return .failure(.tooManyOps)
    } catch {
      return .failure(.unmarshalling(error))
    }
  }
}

extension V3Error {
  init(_ refusal: EtcdServer.ReconfigurationRefusal) {
    switch refusal {
    case .notEnoughStarted: self = .notEnoughStarted
    case .unhealthy: self = .unhealthyCluster
    }
  }
}
