// swift-tools-version:6.1
// fleetstrap: bootstrap, rotate and audit Flux on fleets of EKS clusters backed by AWS CodeCommit.
// Layers flow one way, top to bottom: C libraries, support, protocols, orchestration, commands, the executable.
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "fleetstrap",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fleetstrap", targets: ["fleetstrap"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // The lab only (never linked into fleetstrap): HTTPS server, its certificates.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
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
        // libgit2's plain socket stream with TCP_NODELAY, timeouts and cancellation (C: it keeps libgit2's layout).
        .target(name: "CGitSocket", dependencies: ["CGit2"]),

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
        // Signature Version 4 and what is signed with it (EKS tokens, CodeCommit Git passwords): values, no
        // networking; used by the AWS clients and by the lab's verifiers.
        .target(
            name: "SigV4",
            dependencies: ["FleetSupport", "FleetCrypto"],
            swiftSettings: strict),
        .target(
            name: "AWS",
            dependencies: [
                "SigV4", "FleetSupport", "FleetCrypto", "HTTP", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),

        .target(
            name: "Git",
            dependencies: ["CGit2", "CGitSocket", "AWS", "SigV4", "FleetCrypto", "FleetSupport"],
            swiftSettings: strict),

        .target(
            name: "Flux",
            dependencies: ["FleetSupport", "FleetCrypto", "HTTP", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict),

        .target(
            name: "Kube",
            dependencies: ["FleetSupport", "HTTP", "AWS", "SigV4", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict),

        // MARK: - Domain
        .target(
            name: "Inventory",
            dependencies: ["FleetSupport", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict),

        .target(
            name: "Ledger",
            dependencies: ["FleetSupport", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict),

        .target(
            name: "Fleet",
            dependencies: ["Inventory", "Ledger", "AWS", "Git", "Flux", "Kube", "FleetCrypto", "FleetSupport"],
            swiftSettings: strict),

        .target(
            name: "Reports",
            dependencies: ["Ledger"],
            swiftSettings: strict),

        // MARK: - Executable
        .target(
            name: "FleetstrapCommands",
            dependencies: [
                "Inventory", "AWS", "SigV4", "HTTP", "FleetSupport", "FleetCrypto", "Fleet", "Ledger", "Kube",
                "Reports", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "fleetstrap",
            dependencies: ["FleetstrapCommands", "FleetSupport"],
            swiftSettings: strict),

        // MARK: - The lab (a local AWS, CodeCommit and EKS; never linked into fleetstrap)
        .target(
            name: "FleetLab",
            dependencies: [
                "SigV4", "FleetCrypto", "FleetSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "fleetstrap-lab",
            dependencies: ["FleetLab", "HTTP", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict),
        .executableTarget(
            name: "fleetstrap-fuzz",
            dependencies: ["AWS", "FleetSupport", "Inventory", "Kube"],
            swiftSettings: strict),
        .executableTarget(
            name: "fleetstrap-bench",
            dependencies: ["AWS", "SigV4", "FleetSupport", "Inventory", "Flux", "Reports"],
            swiftSettings: strict),

        // MARK: - Tests
        .target(
            name: "TestSupport",
            dependencies: ["FleetSupport"],
            path: "Tests/TestSupport",
            exclude: ["peer_server.py"],
            swiftSettings: strict),
        .target(
            name: "LabSupport",
            dependencies: ["FleetLab", "AWS", "SigV4", "HTTP", "FleetSupport", "TestSupport"],
            path: "Tests/LabSupport",
            swiftSettings: strict),
        .testTarget(
            name: "CLibraryTests",
            dependencies: ["CCurl", "COpenSSL", "CGit2", "FleetCrypto", "FleetSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "FleetCryptoTests",
            dependencies: ["FleetCrypto", "FleetSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "FleetSupportTests",
            dependencies: ["FleetSupport", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "AWSTests",
            dependencies: [
                "AWS", "SigV4", "HTTP", "FleetSupport", "FleetCrypto", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["botocore_sign.py"],
            swiftSettings: strict),
        .testTarget(
            name: "FleetLabTests",
            dependencies: [
                "FleetLab", "FleetCrypto", "AWS", "SigV4", "HTTP", "FleetSupport", "TestSupport", "LabSupport",
                .product(name: "Yams", package: "Yams"),
            ],
            exclude: ["lab_clients.py"],
            swiftSettings: strict),
        .testTarget(
            name: "GitTests",
            dependencies: [
                "Git", "CGitSocket", "AWS", "FleetCrypto", "FleetSupport", "FleetLab", "TestSupport", "LabSupport",
            ],
            swiftSettings: strict),
        .testTarget(
            name: "FluxTests",
            dependencies: ["Flux", "FleetSupport", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "KubeTests",
            dependencies: [
                "Kube", "Flux", "Git", "AWS", "SigV4", "FleetCrypto", "FleetSupport", "FleetLab", "TestSupport",
                "LabSupport",
            ],
            swiftSettings: strict),
        .testTarget(
            name: "ReportsTests",
            dependencies: ["Reports", "Ledger", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "FleetTests",
            dependencies: [
                "Fleet", "Ledger", "Inventory", "Kube", "AWS", "FleetSupport", "FleetCrypto", "Git", "Flux", "FleetLab",
                "TestSupport", "LabSupport",
            ],
            swiftSettings: strict),
        .testTarget(
            name: "HTTPTests",
            dependencies: ["HTTP", "FleetSupport", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "InventoryTests",
            dependencies: ["Inventory", "FleetSupport", "TestSupport"],
            exclude: ["Corpus"],
            swiftSettings: strict),
        .testTarget(
            name: "CommandTests",
            dependencies: ["FleetstrapCommands", "FleetSupport", "AWS", "SigV4", "TestSupport"],
            exclude: ["awscli_at.py"],
            swiftSettings: strict),
    ]
)
