// Where a Flux version's component manifests come from: a local file or folder, or the release's install.yaml
// downloaded once into a cache keyed by version and checked against a pinned SHA-256.
import FleetCrypto
import FleetSupport
import Foundation
import HTTP
import Synchronization

public enum ManifestSource: Sendable, Hashable {
    /// `install.yaml`, `gotk-components.yaml` or `flux install --export` output; or a folder holding one of them.
    case path(String, sha256: String?)
    /// A URL (default: the GitHub release's install.yaml; a mirror otherwise).
    case url(String, sha256: String?)

    public static func release(_ version: String, sha256: String? = nil) -> ManifestSource {
        let bare = version.hasPrefix("v") ? String(version.dropFirst()) : version
        return .url("https://github.com/fluxcd/flux2/releases/download/v\(bare)/install.yaml", sha256: sha256)
    }
}

public struct ManifestLoadError: FleetError, Equatable {
    public let source: String
    public let message: String
    public var description: String { "Flux manifests from \(source): \(message)" }
    public var errorClass: String { "flux.manifests" }
}

/// Loads each version's manifests once; every cluster of the run shares the parsed copy.
public actor ManifestLibrary {
    private var loaded: [ManifestSource: ComponentManifests] = [:]
    private let cacheDirectory: String
    private let http: HTTPClient

    /// `cacheDirectory`: downloaded releases, one file per version and digest.
    public init(cacheDirectory: String, http: HTTPClient = .shared) {
        self.cacheDirectory = cacheDirectory
        self.http = http
    }

    public func manifests(_ source: ManifestSource) async throws -> ComponentManifests {
        if let known = loaded[source] { return known }
        let (text, name, pinned) = try await read(source)
        if let pinned, SHA256.hash(text).hexString != pinned.lowercased() {
            throw ManifestLoadError(
                source: name,
                message:
                    """
                    SHA-256 is \(SHA256.hash(text).hexString), the inventory pins \(pinned.lowercased()); nothing \
                    was applied
                    """
            )
        }
        let manifests = try ComponentManifests.parse(text, source: name)
        loaded[source] = manifests
        return manifests
    }

    private func read(_ source: ManifestSource) async throws -> (String, String, String?) {
        switch source {
        case .path(let path, let sha256):
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ManifestLoadError(source: path, message: "no such file or folder")
            }
            var file = path
            if isDirectory.boolValue {
                guard
                    let found = ["gotk-components.yaml", "install.yaml", "flux-system/gotk-components.yaml"]
                        .map({ "\(path)/\($0)" }).first(where: { FileManager.default.fileExists(atPath: $0) })
                else {
                    throw ManifestLoadError(
                        source: path, message: "the folder has no gotk-components.yaml or install.yaml")
                }
                file = found
            }
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ManifestLoadError(source: file, message: "not readable as UTF-8 text")
            }
            return (text, file, sha256)
        case .url(let url, let sha256):
            let cached =
                "\(cacheDirectory)/\(SHA256.hash(url).hexString.prefix(16))-\(sha256?.prefix(16) ?? "unpinned").yaml"
            if let text = try? String(contentsOfFile: cached, encoding: .utf8) { return (text, url, sha256) }
            var request = HTTPRequest(url: url, timeout: .seconds(120))
            request.followRedirects = true
            let response = try await http.execute(request)
            guard response.status == 200 else {
                throw ManifestLoadError(
                    source: url,
                    message: "HTTP \(response.status); set the manifests' URL to a reachable mirror or a local file")
            }
            let text = String(decoding: response.body, as: UTF8.self)
            try? FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
            if sha256 == nil || SHA256.hash(text).hexString == sha256?.lowercased() {
                try? text.write(toFile: cached, atomically: true, encoding: .utf8)
            }
            return (text, url, sha256)
        }
    }
}
