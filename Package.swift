// swift-tools-version:6.1
// fleetstrap: bootstrap, rotate and audit Flux on fleets of EKS clusters backed by AWS CodeCommit.
// Layers flow one way, top to bottom: C libraries → support → protocols → orchestration → executable.
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "fleetstrap",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fleetstrap", targets: ["fleetstrap"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // MARK: - System libraries (module map + shim.h of typed wrappers)
        .systemLibrary(
            name: "CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),
        .systemLibrary(
            name: "CGit2", pkgConfig: "libgit2",
            providers: [.apt(["libgit2-dev"])]),

        // MARK: - Foundations
        .target(
            name: "FleetSupport",
            swiftSettings: strict),
        .target(
            name: "FleetCrypto",
            dependencies: ["COpenSSL", "FleetSupport"],
            swiftSettings: strict),

        // MARK: - Protocols
        .target(
            name: "HTTP",
            dependencies: ["CCurl", "FleetSupport"],
            swiftSettings: strict),
        .target(
            name: "AWS",
            dependencies: ["FleetSupport", "FleetCrypto", "HTTP", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),

        // MARK: - Domain
        .target(
            name: "Inventory",
            dependencies: ["FleetSupport", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict),

        // MARK: - Executable
        .executableTarget(
            name: "fleetstrap",
            dependencies: [
                "Inventory", "AWS", "HTTP", "FleetSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),

        .executableTarget(
            name: "fleetstrap-bench",
            dependencies: ["AWS", "FleetSupport"],
            swiftSettings: strict),

        // MARK: - Tests
        .target(
            name: "TestSupport",
            path: "Tests/TestSupport",
            exclude: ["peer_server.py"],
            swiftSettings: strict),
        .testTarget(
            name: "CLibraryTests",
            dependencies: ["CCurl", "COpenSSL", "CGit2", "FleetCrypto", "FleetSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "FleetSupportTests",
            dependencies: ["FleetSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "AWSTests",
            dependencies: [
                "AWS", "HTTP", "FleetSupport", "FleetCrypto", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["botocore_sign.py"],
            swiftSettings: strict),
        .testTarget(
            name: "HTTPTests",
            dependencies: ["HTTP", "FleetSupport", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "InventoryTests",
            dependencies: ["Inventory", "FleetSupport"],
            exclude: ["Corpus"],
            swiftSettings: strict),
        .testTarget(
            name: "CommandTests",
            dependencies: ["FleetSupport", "AWS", "TestSupport"],
            exclude: ["awscli_at.py"],
            swiftSettings: strict),
    ]
)
