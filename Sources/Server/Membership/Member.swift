import V2Store

/// A cluster member as etcd describes one: its ID, its name (empty until it
/// has started and published it), peer URLs, client URLs, learner flag.
public struct Member: Equatable, Sendable {
  public var id: UInt64
  public var name: String
  public var peerURLs: [String]
  public var clientURLs: [String]
  public var isLearner: Bool

  public init(
    id: UInt64, name: String, peerURLs: [String], clientURLs: [String] = [],
    isLearner: Bool = false
  ) {
    self.id = id
    self.name = name
    self.peerURLs = peerURLs
    self.clientURLs = clientURLs
    self.isLearner = isLearner
  }

  /// The `/v2/members` form: `{"id":"…","name":"…","peerURLs":[…],"clientURLs":[…]}`.
  public var v2JSON: String {
    "{\"id\":\"\(MemberID.format(id))\",\"name\":" + V2JSON.quoted(name) + ",\"peerURLs\":"
      + Self.list(peerURLs) + ",\"clientURLs\":" + Self.list(clientURLs) + "}"
  }

  /// The peer port's `/members` form, as etcd's peers serve it: the ID as a
  /// JSON number, and `isLearner` only when set.
  public var peerJSON: String {
    "{\"id\":\(id),\"peerURLs\":" + Self.list(peerURLs) + ",\"name\":" + V2JSON.quoted(name)
      + ",\"clientURLs\":" + Self.list(clientURLs) + (isLearner ? ",\"isLearner\":true}" : "}")
  }

  static func list(_ items: [String]) -> String {
    "[" + items.map(V2JSON.quoted).joined(separator: ",") + "]"
  }
}

/// Why a membership change is refused, with etcd's words.
public enum MembershipError: Error, Equatable, CustomStringConvertible {
  case idExists
  case peerURLExists
  case notFound
  case idRemoved

  public var description: String {
    switch self {
    case .idExists: "etcdserver: member ID already exist"
    case .peerURLExists: "etcdserver: Peer URLs already exists"
    case .notFound: "etcdserver: member not found"
    case .idRemoved: "etcdserver: the member has been permanently removed from the cluster"
    }
  }
}

/// The cluster's membership as applied from the log: every member applies
/// the same changes at the same index, so all agree.
public struct ClusterMembers: Equatable, Sendable {
  public private(set) var clusterID: UInt64
  private(set) var members: [UInt64: Member] = [:]
  /// IDs once removed are never accepted again (etcd refuses them too).
  private(set) var removed: Set<UInt64> = []

  public init(clusterID: UInt64, members: [Member], removed: Set<UInt64> = []) {
    self.clusterID = clusterID
    for member in members { self.members[member.id] = member }
    self.removed = removed
  }

  public var removedIDs: Set<UInt64> { removed }

  /// The static --initial-cluster: members grouped by name, IDs derived from
  /// their peer URLs and the token, the cluster ID from the member IDs.
  public static func initial(_ cluster: [InitialMember], token: String) -> ClusterMembers {
    var order: [String] = []
    var urls: [String: [String]] = [:]
    for entry in cluster {
      if urls[entry.name] == nil { order.append(entry.name) }
      urls[entry.name, default: []].append(entry.url.description)
    }
    let members = order.map { name in
      Member(
        id: MemberID.member(peerURLs: urls[name]!, clusterToken: token), name: name,
        peerURLs: urls[name]!.sorted())
    }
    return ClusterMembers(
      clusterID: MemberID.cluster(memberIDs: members.map(\.id)), members: members)
  }

  /// Members sorted by ID, as etcd lists them.
  public var all: [Member] { members.values.sorted { $0.id < $1.id } }

  public subscript(id: UInt64) -> Member? { members[id] }

  public func member(named name: String) -> Member? {
    members.values.first { $0.name == name }
  }

  public func validateAdd(_ member: Member) throws(MembershipError) {
    if removed.contains(member.id) { throw .idRemoved }
    if members[member.id] != nil { throw .idExists }
    let taken = Set(members.values.flatMap(\.peerURLs))
    if member.peerURLs.contains(where: taken.contains) { throw .peerURLExists }
  }

  public mutating func add(_ member: Member) throws(MembershipError) {
    try validateAdd(member)
    members[member.id] = member
  }

  public mutating func remove(_ id: UInt64) throws(MembershipError) {
    if removed.contains(id) { throw .idRemoved }
    guard members.removeValue(forKey: id) != nil else { throw .notFound }
    removed.insert(id)
  }

  public mutating func updatePeerURLs(_ id: UInt64, _ peerURLs: [String]) throws(MembershipError) {
    if removed.contains(id) { throw .idRemoved }
    guard members[id] != nil else { throw .notFound }
    let taken = Set(members.values.filter { $0.id != id }.flatMap(\.peerURLs))
    if peerURLs.contains(where: taken.contains) { throw .peerURLExists }
    members[id]!.peerURLs = peerURLs.sorted()
  }

  /// A started member publishes its name and client URLs.
  public mutating func publish(_ id: UInt64, name: String, clientURLs: [String]) {
    members[id]?.name = name
    members[id]?.clientURLs = clientURLs
  }

  public mutating func promote(_ id: UInt64) throws(MembershipError) {
    guard members[id] != nil else { throw .notFound }
    members[id]!.isLearner = false
  }

  /// etcd's strict reconfiguration check for adding a voter: the started
  /// voters must still be a quorum of the grown cluster. A lone member may
  /// always add one more (that is how a cluster is rebuilt from a backup).
  public var isReadyToAddVoter: Bool {
    let voters = members.values.filter { !$0.isLearner }
    let started = voters.filter { !$0.name.isEmpty }.count
    if voters.count == 1 && started == 1 { return true }
    return started >= (voters.count + 1) / 2 + 1
  }

  /// ... and for removing `id`: the started voters left must be a quorum of
  /// the voters left. Removing a learner never endangers the quorum.
  /// An ID that is no member counts as none of them, as in etcd: the check
  /// still refuses while too few have started.
  public func isReadyToRemove(_ id: UInt64) -> Bool {
    if members[id]?.isLearner == true { return true }
    let voters = members.values.filter { !$0.isLearner && $0.id != id }
    let started = voters.filter { !$0.name.isEmpty }.count
    return started >= voters.count / 2 + 1
  }

  /// ... and for promoting a learner: counted as a started voter, it and
  /// the started voters must be a quorum of the grown voter set.
  public var isReadyToPromote: Bool {
    let voters = members.values.filter { !$0.isLearner }
    let started = voters.filter { !$0.name.isEmpty }.count + 1
    return started >= (voters.count + 1) / 2 + 1
  }

  public var learnerCount: Int { members.values.filter(\.isLearner).count }

  public var v2JSON: String {
    "{\"members\":[" + all.map(\.v2JSON).joined(separator: ",") + "]}"
  }
}
