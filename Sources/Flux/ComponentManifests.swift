// A Flux version's component manifests, parsed once and shared by every cluster: each document kept as Flux
// wrote it (so rendering the default components gives back the same bytes), with what is needed to select,
// order and apply it.
import FleetCrypto
import FleetSupport
import Foundation
import Yams

public final class ComponentManifests: Sendable {
    /// One YAML document of the manifests.
    public struct Document: Sendable, Equatable {
        /// The document as written, without its `---` line or Flux's header comments, ending with a newline.
        public let text: String
        public let apiVersion: String
        public let kind: String
        public let name: String
        public let namespace: String?
        /// `app.kubernetes.io/component`; nil for objects every install has (namespace, policies, roles).
        public let component: String?
    }

    /// `v2.4.0`.
    public let version: String
    /// The components the manifests hold, in Flux's order.
    public let components: [String]
    public let documents: [Document]
    /// SHA-256 of the text they were read from.
    public let sha256: String

    public init(version: String, components: [String], documents: [Document], sha256: String) {
        self.version = version
        self.components = components
        self.documents = documents
        self.sha256 = sha256
    }

    public struct Invalid: FleetError, Equatable {
        public let source: String
        public let message: String
        public var description: String { "\(source): \(message)" }
        public var errorClass: String { "flux.manifests" }
    }

    /// Parses `gotk-components.yaml`, a release's `install.yaml` or `flux install --export` output.
    public static func parse(_ text: String, source: String) throws(Invalid) -> ComponentManifests {
        var documents: [Document] = []
        var headerVersion: String?
        var headerComponents: [String]?
        for (index, chunk) in split(text).enumerated() {
            var lines = chunk.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            // Flux's header comments sit at the top of the first document.
            while let first = lines.first,
                first.hasPrefix("#") || first.isEmpty && lines.count > 1 && lines[1].hasPrefix("#")
            {
                if first.hasPrefix("# Flux Version: ") || first.hasPrefix("# Flux version: ") {
                    headerVersion = String(first.dropFirst("# Flux Version: ".count)).trimmingCharacters(
                        in: .whitespaces)
                } else if first.hasPrefix("# Components: ") {
                    headerComponents = first.dropFirst("# Components: ".count).split(separator: ",").map {
                        $0.trimmingCharacters(in: .whitespaces)
                    }
                }
                lines.removeFirst()
            }
            let body = lines.joined(separator: "\n")
            guard !body.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { continue }
            let node: Node?
            do {
                node = try Yams.compose(yaml: body)
            } catch {
                throw Invalid(source: source, message: "document \(index + 1) is not YAML: \(error)")
            }
            guard let mapping = node?.mapping, let apiVersion = mapping["apiVersion"]?.string,
                let kind = mapping["kind"]?.string,
                let metadata = mapping["metadata"]?.mapping, let name = metadata["name"]?.string
            else {
                throw Invalid(
                    source: source,
                    message: "document \(index + 1) is not a Kubernetes object (apiVersion, kind, metadata.name)")
            }
            let labels = metadata["labels"]?.mapping
            documents.append(
                Document(
                    text: body.hasSuffix("\n") ? body : body + "\n", apiVersion: apiVersion, kind: kind, name: name,
                    namespace: metadata["namespace"]?.string, component: labels?["app.kubernetes.io/component"]?.string)
            )
            if headerVersion == nil, let version = labels?["app.kubernetes.io/version"]?.string {
                headerVersion = version
            }
        }
        guard !documents.isEmpty else { throw Invalid(source: source, message: "no Kubernetes objects") }
        guard let version = headerVersion else {
            throw Invalid(
                source: source,
                message: "no Flux version (neither a '# Flux Version:' header nor app.kubernetes.io/version labels)")
        }
        var seen: [String] = []
        for component in documents.compactMap(\.component) where !seen.contains(component) { seen.append(component) }
        let components =
            headerComponents.map { header in header.filter { seen.contains($0) } + seen.filter { !header.contains($0) }
            } ?? seen
        for required in ["source-controller", "kustomize-controller"] where !components.contains(required) {
            throw Invalid(source: source, message: "the manifests have no \(required), which Flux bootstrap requires")
        }
        return ComponentManifests(
            version: version.hasPrefix("v") ? version : "v\(version)", components: components, documents: documents,
            sha256: SHA256.hash(text).hexString)
    }

    /// Documents are separated by `---` lines.
    static func split(_ text: String) -> [String] {
        var chunks: [String] = []
        var current: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "---" || line.hasPrefix("--- ") {
                chunks.append(current.joined(separator: "\n"))
                current = []
            } else {
                current.append(line)
            }
        }
        chunks.append(current.joined(separator: "\n"))
        return chunks
    }
}
