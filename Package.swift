// swift-tools-version:6.1
// swetcd: an etcd-compatible key-value store. Modules depend downward only
// (docs/architecture.md): EtcdProto <- Raft <- Storage, and the tests on top.
import PackageDescription

let package = Package(
  name: "swetcd",
  platforms: [.macOS(.v15)],
  dependencies: [
    // traits: [] keeps swift-protobuf on FoundationEssentials (no ICU).
    .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0", traits: [])
  ],
  targets: [
    .target(
      name: "EtcdProto",
      dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
      exclude: ["proto"]
    ),
    .target(
      name: "Raft",
      dependencies: ["EtcdProto", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
    ),
    .target(
      name: "Storage",
      dependencies: ["EtcdProto", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
    ),
    .testTarget(name: "RaftTests", dependencies: ["Raft", "EtcdProto"]),
    .testTarget(name: "StorageTests", dependencies: ["Storage", "EtcdProto"]),
    .testTarget(
      name: "SimulationTests",
      dependencies: ["Raft", "Storage", "EtcdProto"]
    ),
  ]
)
