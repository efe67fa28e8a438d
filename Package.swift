// swift-tools-version:6.1
// swetcd: an etcd-compatible key-value store. Modules depend downward only
// (docs/architecture.md): system-library shims, EtcdProto, then Raft, Storage,
// V2Store and Net side by side, the server on top.
import PackageDescription

let package = Package(
  name: "swetcd",
  platforms: [.macOS(.v15)],
  dependencies: [
    // traits: [] keeps swift-protobuf on FoundationEssentials (no ICU).
    .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0", traits: []),
    .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
  ],
  targets: [
    .systemLibrary(name: "CLibUV", pkgConfig: "libuv", providers: [.apt(["libuv1-dev"])]),
    .systemLibrary(name: "CHTTPParser", providers: [.apt(["libhttp-parser-dev"])]),
    .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
    .systemLibrary(
      name: "CNghttp2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
    // libcrypto for now (snapshot checksums); TLS will add libssl.
    .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
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
    // SwiftProtobuf encodes EtcdProto's messages into the key bucket.
    .target(
      name: "MVCC",
      dependencies: [
        "CLMDB", "EtcdProto", "Storage", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ]
    ),
    .target(name: "V2Store"),
    .target(name: "Net", dependencies: ["CLibUV", "CHTTPParser", "CNghttp2"]),
    .target(
      name: "Server",
      dependencies: [
        "COpenSSL", "EtcdProto", "Raft", "Storage", "MVCC", "Net", "V2Store",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "Yams", package: "Yams"), .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .executableTarget(
      name: "swetcd",
      dependencies: ["Server", "Net", .product(name: "Logging", package: "swift-log")]
    ),
    .testTarget(
      name: "ServerTests",
      dependencies: [
        "Server", "EtcdProto", "MVCC", "V2Store", .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .testTarget(name: "V2StoreTests", dependencies: ["V2Store"]),
    // clients/: the Python gRPC client the interop test runs.
    .testTarget(name: "NetTests", dependencies: ["Net"], exclude: ["clients"]),
    // clients/: scripts that drive the member from other languages. Net and
    // EtcdProto: the v3 tests speak gRPC to the member with Net's client.
    .testTarget(
      name: "IntegrationTests",
      dependencies: [
        "swetcd", "Net", "EtcdProto", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      exclude: ["clients"]
    ),
    .testTarget(name: "RaftTests", dependencies: ["Raft", "EtcdProto"]),
    .testTarget(name: "StorageTests", dependencies: ["Storage", "EtcdProto"]),
    .testTarget(name: "MVCCTests", dependencies: ["MVCC", "EtcdProto", "Storage"]),
    .testTarget(
      name: "SimulationTests",
      dependencies: ["Raft", "Storage", "EtcdProto"]
    ),
  ]
)
