// Component files rendered once per run for every cluster with the same manifests and options.
import FleetCrypto
import Flux
import Kube

/// Rendered component files, one per manifests and options, with their digest and (once needed) their objects:
/// a thousand clusters with the same settings share one copy, hashed and parsed once.
public actor RenderCache {
    public init() {}

    struct Rendered: Sendable {
        let key: Key
        let bytes: [UInt8]
        let digest: [UInt8]
    }

    struct Key: Hashable, Sendable {
        let manifests: String
        let options: InstallOptions
    }

    private var rendered: [Key: Rendered] = [:]
    private var parsed: [Key: [EncodedObject]] = [:]

    func render(_ manifests: ComponentManifests, _ options: InstallOptions) throws -> Rendered {
        let key = Key(manifests: manifests.sha256, options: options)
        if let known = rendered[key] { return known }
        let bytes = Array(try manifests.render(options).utf8)
        let result = Rendered(key: key, bytes: bytes, digest: SHA256.hash(bytes))
        rendered[key] = result
        return result
    }

    func objects(_ rendered: Rendered) throws -> [EncodedObject] {
        if let known = parsed[rendered.key] { return known }
        let objects = try KubeClient.objects(fromYAML: String(decoding: rendered.bytes, as: UTF8.self)).map(
            EncodedObject.init)
        parsed[rendered.key] = objects
        return objects
    }
}
