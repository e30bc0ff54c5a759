// Waiting as `flux bootstrap` waits: the flux-system GitRepository and Kustomization Ready at the pushed revision
// with `observedGeneration == generation`, failing at once on suspend or on `Ready=False` for the request made;
// then the controllers' Deployments Available.
import FleetSupport
import Foundation

public struct WaitSettings: Sendable {
    public var timeout: Duration = .seconds(300)
    public var poll: Duration = .seconds(2)
    public init(timeout: Duration = .seconds(300), poll: Duration = .seconds(2)) {
        (self.timeout, self.poll) = (timeout, poll)
    }
}

extension KubeClient {
    /// Until a Flux object is Ready at `revision` (`<branch>@sha1:<commit>`; nil: any). `requestedAt`: the
    /// `reconcile.fluxcd.io/requestedAt` value asked for; a `Ready=False` counts only once that request was handled.
    /// `accepts`: whether a later revision also counts (a branch many writers share moves past the pushed commit;
    /// a descendant still carries it).
    @discardableResult
    public func waitReady(
        apiVersion: String, kind: String, namespace: String, name: String, revision: String?,
        requestedAt: String? = nil,
        accepts: (@Sendable (String) async -> Bool)? = nil, settings: WaitSettings = WaitSettings()
    ) async throws -> JSONValue {
        let deadline = ContinuousClock.now + settings.timeout
        let label = Self.describe(kind, namespace, name)
        var last = "no status yet"
        var poll = min(settings.poll, .milliseconds(50))
        while true {
            if let object = try await get(apiVersion: apiVersion, kind: kind, namespace: namespace, name: name) {
                if object[path: "spec.suspend"]?.bool == true {
                    throw KubeError(
                        .failed, verb: "wait", object: label,
                        message: "it is suspended (flux resume \(kind.lowercased()) \(name))", cluster: access.name)
                }
                let current = object[path: "metadata.generation"]?.int == object[path: "status.observedGeneration"]?.int
                let handled = requestedAt == nil || object[path: "status.lastHandledReconcileAt"]?.string == requestedAt
                let ready = Self.condition(object, "Ready")
                let seen =
                    object[path: "status.artifact.revision"]?.string ?? object[path: "status.lastAppliedRevision"]?
                    .string
                    ?? object[path: "status.lastAttemptedRevision"]?.string
                func wanted(_ candidate: String?) async -> Bool {
                    guard let revision else { return true }
                    guard let candidate else { return false }
                    if candidate == revision { return true }
                    return await accepts?(candidate) ?? false
                }
                if current, ready?["status"]?.string == "True", await wanted(seen) { return object }
                // Ready=False counts once it answers this request: the request handled, or our revision attempted.
                let attempted =
                    object[path: "status.lastAttemptedRevision"]?.string
                    ?? object[path: "status.artifact.revision"]?.string
                let ours = requestedAt != nil ? handled : await wanted(attempted)
                if current, ours, ready?["status"]?.string == "False" {
                    throw KubeError(
                        .failed, verb: "wait", object: label, message: ready?["message"]?.string ?? "Ready=False",
                        cluster: access.name)
                }
                last =
                    "Ready=\(ready?["status"]?.string ?? "Unknown") at \(seen ?? "no revision")"
                    + (ready?["message"]?.string.map { ": \($0)" } ?? "")
            }
            guard ContinuousClock.now < deadline else {
                throw KubeError(
                    .timeout, verb: "wait", object: label,
                    message: "not Ready at \(revision ?? "a revision") after \(settings.timeout) (\(last))",
                    cluster: access.name)
            }
            // Quick first looks (the controllers are often done at once), growing by half each time to Flux's pace:
            // doubling overshot a 200 ms wait by 150 ms on average.
            try await Task.sleep(for: poll)
            poll = min(poll * 3 / 2, settings.poll)
        }
    }

    /// Until each named Deployment reports `Available=True` for its current generation. Each pass is one LIST of the
    /// namespace's Deployments, as the kstatus poller Flux waits with reads a kind, not a GET per Deployment (a
    /// request and an answer fewer per controller and pass, on both ends). Quick first looks, then Flux's pace.
    public func waitAvailable(namespace: String, deployments: [String], settings: WaitSettings = WaitSettings())
        async throws
    {
        let deadline = ContinuousClock.now + settings.timeout
        var waiting = deployments
        var poll = min(settings.poll, .milliseconds(50))
        while true {
            var found: [String: JSONValue] = [:]
            for item in try await list(apiVersion: "apps/v1", kind: "Deployment", namespace: namespace) {
                if let name = item[path: "metadata.name"]?.string { found[name] = item }
            }
            waiting = waiting.filter { name in
                guard let deployment = found[name] else { return true }
                let current =
                    deployment[path: "metadata.generation"]?.int == deployment[path: "status.observedGeneration"]?.int
                return !(current && Self.condition(deployment, "Available")?["status"]?.string == "True")
            }
            if waiting.isEmpty { return }
            guard ContinuousClock.now < deadline else {
                let state = found[waiting[0]] == nil ? "not found" : "not Available"
                throw KubeError(
                    .timeout, verb: "wait", object: "Deployment \(namespace)/\(waiting[0])",
                    message: "\(state) after \(settings.timeout)", cluster: access.name)
            }
            try await Task.sleep(for: poll)
            poll = min(poll * 3 / 2, settings.poll)
        }
    }

    /// Asks Flux to reconcile now: sets `reconcile.fluxcd.io/requestedAt`; returns the value set.
    public func requestReconcile(
        apiVersion: String, kind: String, namespace: String, name: String, at date: Date = Date(),
        fieldManager: String = "flux"
    ) async throws -> String {
        let value = ISO8601DateFormatter().string(from: date)
        let resource = try await resource(apiVersion: apiVersion, kind: kind)
        let patch = JSONValue.object([
            "apiVersion": .string(apiVersion), "kind": .string(kind),
            "metadata": .object([
                "name": .string(name), "namespace": .string(namespace),
                "annotations": .object(["reconcile.fluxcd.io/requestedAt": .string(value)]),
            ]),
        ])
        _ = try await expect(
            "PATCH",
            path(resource, namespace: namespace, name: name) + "?fieldManager=\(fieldManager)-reconcile&force=true",
            body: patch.encoded,
            contentType: "application/apply-patch+yaml", verb: "annotate", object: Self.describe(kind, namespace, name))
        return value
    }
}
