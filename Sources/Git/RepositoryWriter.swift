// One writer per repository branch: many clusters hand it their files, it commits them in batches (one commit a
// batch) on top of the remote head and pushes. When the branch moved (another writer, a rival), it fetches, replays
// the batch on the new head (the files are the clusters' own) and pushes again, with backoff; it never forces.
// A batch that changes nothing makes no commit. Each cluster is answered with the commit that carries its files.
import FleetCrypto
import FleetSupport
import Foundation
import Synchronization

public actor RepositoryWriter {
    /// A file to write (content) or delete (nil), by path from the repository root.
    public struct Change: Sendable, Equatable {
        public var path: String
        public var content: [UInt8]?
        /// Written only when the branch has no file there (user edits are kept, as Flux keeps kustomization.yaml).
        public var onlyIfAbsent = false
        /// SHA-256 of `content` when the caller already has it (a file shared by many clusters is hashed once).
        public var digest: [UInt8]?
        public init(path: String, content: [UInt8]?, digest: [UInt8]? = nil) {
            (self.path, self.content, self.digest) = (path, content, digest)
        }
        public static func write(_ path: String, _ text: String) -> Change {
            Change(path: path, content: Array(text.utf8))
        }
        public static func create(_ path: String, _ text: String) -> Change {
            var change = Change(path: path, content: Array(text.utf8))
            change.onlyIfAbsent = true
            return change
        }
        public static func delete(_ path: String) -> Change { Change(path: path, content: nil) }
    }

    public struct Receipt: Sendable, Equatable {
        /// The commit on the remote branch that holds the cluster's files.
        public var commit: ObjectID
        /// False when the branch already held them (no commit was made for this cluster).
        public var changed: Bool
        /// Clusters in the same commit.
        public var batchSize: Int
    }

    public struct Options: Sendable {
        public var branch = "main"
        public var author = LocalRepository.Author.flux
        /// The most clusters in one commit.
        public var maxBatch = 500
        /// How long a batch waits for more clusters after the first arrives (zero when clusters run one at a time).
        public var gatherWindow: Duration = .milliseconds(25)
        /// Pushes tried per batch before giving up on a branch that keeps moving.
        public var maxAttempts = 10
        public var backoff: Duration = .milliseconds(100)
        public var maxBackoff: Duration = .seconds(5)
        /// How long a fetch or push waits with nothing received or sent before it fails (nil: libgit2's registered
        /// default, 120 s; a server's hooks may think that long before answering a push).
        public var idleTimeout: Duration?
        public var now: @Sendable () -> Date = Date.init
        public init() {}
    }

    /// What the writer did, for reports and benchmarks.
    public struct Statistics: Sendable, Equatable {
        public var batches = 0
        public var commits = 0
        public var pushes = 0
        /// Pushes the server refused because the branch had moved.
        public var rejections = 0
        /// Fetches before a push (a push on the head the writer last pushed skips it).
        public var fetches = 0
        /// Blobs written (identical content is written once).
        public var blobsWritten = 0
    }

    private struct Pending {
        var cluster: String
        var changes: [String: ContentKey?]
        var keepIfPresent: Set<String>
        var message: String
        var reply: @Sendable (Result<Receipt, any Error>) -> Void
    }

    /// Content by digest: the same file for a thousand clusters is held, and written, once.
    private struct ContentKey: Hashable, Sendable { let digest: [UInt8] }

    public let remote: GitRemote
    public let options: Options
    private let local: LocalRepository
    private var pending: [Pending] = []
    private var contents: [ContentKey: [UInt8]] = [:]
    private var written: [ContentKey: ObjectID] = [:]
    private var flushing: Task<Void, Never>?
    private var stats = Statistics()
    /// The branch's head on the remote when this writer last pushed or fetched it; the next batch is built on it
    /// without a fetch. A push on a stale head is refused (never forced), then the batch fetches and tries again.
    private var knownHead: ObjectID?

    /// `localPath`: the writer's bare mirror of the remote (kept between runs: later fetches are small). The mirror
    /// is this writer's alone (one run holds a fleet state, one writer a mirror): lock files a killed run left in it
    /// are removed.
    public init(remote: GitRemote, localPath: String, options: Options = Options()) throws {
        self.remote = remote
        self.options = options
        LocalRepository.removeStaleLocks(path: localPath)
        self.local = try LocalRepository.openOrCreate(path: localPath)
    }

    public var statistics: Statistics { stats }

    /// One cluster's files for `submit(_:message:)`.
    public struct Submission: Sendable {
        public var cluster: String
        public var directory: String
        public var changes: [Change]
        public init(cluster: String, directory: String, changes: [Change]) {
            (self.cluster, self.directory, self.changes) = (cluster, directory, changes)
        }
    }

    /// Hands the writer one cluster's files; returns once they are on the remote branch.
    /// Every path must lie under `directory` (the cluster's own folder in the repository).
    public func submit(cluster: String, directory: String, changes: [Change], message: String) async throws -> Receipt {
        var pending = try prepare(
            Submission(cluster: cluster, directory: directory, changes: changes), message: message)
        return try await withCheckedThrowingContinuation { continuation in
            pending.reply = { continuation.resume(with: $0) }
            enqueue([pending])
        }
    }

    /// Hands the writer several clusters' files at once: they go into the same batch (one commit, unless more than
    /// `maxBatch`), as a key rotation wants one commit per repository. Answers in the order given.
    public func submit(_ submissions: [Submission], message: String) async throws -> [Receipt] {
        guard !submissions.isEmpty else { return [] }
        var prepared = try submissions.map { try prepare($0, message: message) }
        let results = Mutex([Result<Receipt, any Error>?](repeating: nil, count: prepared.count))
        let outcome: [Result<Receipt, any Error>] = await withCheckedContinuation { continuation in
            for index in prepared.indices {
                prepared[index].reply = { result in
                    let all: [Result<Receipt, any Error>]? = results.withLock { slots in
                        slots[index] = result
                        return slots.allSatisfy { $0 != nil } ? slots.map { $0! } : nil
                    }
                    if let all { continuation.resume(returning: all) }
                }
            }
            enqueue(prepared)
        }
        return try outcome.map { try $0.get() }
    }

    private func enqueue(_ items: [Pending]) {
        pending += items
        if flushing == nil { flushing = Task { await flush() } }
    }

    private func prepare(_ submission: Submission, message: String) throws -> Pending {
        let cluster = submission.cluster
        let folder = try Self.normalizedDirectory(submission.directory, cluster: cluster, remote: remote.url)
        var keyed: [String: ContentKey?] = [:]
        let keep = Set(submission.changes.filter(\.onlyIfAbsent).map(\.path))
        for change in submission.changes {
            try Self.check(change.path, under: folder, cluster: cluster, remote: remote.url)
            if let content = change.content {
                let key = ContentKey(digest: change.digest ?? SHA256.hash(content))
                if contents[key] == nil, written[key] == nil { contents[key] = content }
                keyed[change.path] = key
            } else {
                keyed.updateValue(nil, forKey: change.path)
            }
        }
        return Pending(cluster: cluster, changes: keyed, keepIfPresent: keep, message: message, reply: { _ in })
    }

    /// Whether `commit` is `ancestor` or comes after it on the branch (fetching when the commit is new here).
    public func contains(_ commit: ObjectID, ancestor: ObjectID) async throws -> Bool {
        if commit == ancestor { return true }
        let (remote, local, options) = (self.remote, self.local, self.options)
        if !local.has(commit) {
            let authentication = try await remote.authentication.resolve(url: remote.url, now: options.now())
            _ = try await GitThread.run(idleTimeout: options.idleTimeout) { cancellation in
                try local.fetch(
                    remote, authentication: authentication, branch: options.branch, cancellation: cancellation)
            }
        }
        return local.isDescendant(commit, of: ancestor)
    }

    /// Which of `changes` the branch does not hold yet (a dry run: fetches, writes nothing remote).
    public func preview(_ changes: [Change]) async throws -> [String] {
        let authentication = try await remote.authentication.resolve(url: remote.url, now: options.now())
        let (remote, local, options) = (self.remote, self.local, self.options)
        return try await GitThread.run(idleTimeout: options.idleTimeout) { cancellation in
            let head = try local.fetch(
                remote, authentication: authentication, branch: options.branch, cancellation: cancellation)
            return changes.filter { change in
                let current = local.read(change.path, in: head)
                if change.onlyIfAbsent { return current == nil }
                return current != change.content
            }.map(\.path)
        }
    }

    // MARK: Batches

    private func flush() async {
        while !pending.isEmpty {
            if options.gatherWindow > .zero { try? await Task.sleep(for: options.gatherWindow) }
            if Task.isCancelled {
                let waiting = pending
                pending.removeAll()
                for item in waiting {
                    item.reply(
                        .failure(
                            GitError(
                                .cancelled, operation: "write", remote: remote.url,
                                message: "cancelled before its batch was pushed")))
                }
                break
            }
            let batch = Array(pending.prefix(options.maxBatch))
            pending.removeFirst(batch.count)
            stats.batches += 1
            do {
                let outcome = try await write(batch)
                for (index, item) in batch.enumerated() {
                    item.reply(
                        .success(
                            Receipt(commit: outcome.commit, changed: outcome.changed[index], batchSize: batch.count)))
                }
            } catch {
                for item in batch { item.reply(.failure(error)) }
            }
        }
        flushing = nil
    }

    /// Stops the batch in flight (libgit2 notices at its next callback) and refuses the clusters still waiting;
    /// each gets `GitError.cancelled`. Nothing half-done reaches the remote: a push is all or nothing.
    public func cancelAll() {
        flushing?.cancel()
    }

    private struct Outcome: Sendable {
        var commit: ObjectID
        var changed: [Bool]
    }

    private enum Attempt: Sendable {
        case done(Outcome, blobs: [ContentKey: ObjectID], committed: Bool, fetched: Bool)
        case rejected(String, blobs: [ContentKey: ObjectID], fetched: Bool)
    }

    private func write(_ batch: [Pending]) async throws -> Outcome {
        let message = Self.message(for: batch)
        var attempt = 0
        while true {
            attempt += 1
            if Task.isCancelled {
                throw GitError(.cancelled, operation: "push", remote: remote.url, message: "cancelled")
            }
            let authentication = try await remote.authentication.resolve(url: remote.url, now: options.now())
            let toWrite = contents
            let known = written
            let (remote, local, options) = (self.remote, self.local, self.options)
            let requested = batch.map { ($0.changes, $0.keepIfPresent) }
            // The first try builds on the head this writer last saw, if any; a retry always fetches.
            let assumed = attempt == 1 ? knownHead : nil
            knownHead = nil
            let result = try await GitThread.run(idleTimeout: options.idleTimeout) { cancellation throws -> Attempt in
                func fetch() throws(GitError) -> ObjectID? {
                    try local.fetch(
                        remote, authentication: authentication, branch: options.branch, cancellation: cancellation)
                }
                var fetched = assumed == nil
                var head = try assumed ?? fetch()
                while true {
                    // Files to create only where the branch has none: dropped where it has one.
                    let changeSets = requested.map { changes, keep in
                        changes.filter { path, _ in !keep.contains(path) || local.entry(path, in: head) == nil }
                    }
                    var blobs = known
                    for (key, content) in toWrite where blobs[key] == nil { blobs[key] = try local.writeBlob(content) }
                    var merged: [String: ObjectID?] = [:]
                    for changes in changeSets {
                        // updateValue: assigning nil through the subscript would drop a delete.
                        for (path, key) in changes { merged.updateValue(key.map { blobs[$0]! }, forKey: path) }
                    }
                    // Which clusters' files differ from the head: only theirs make the commit.
                    let changed = changeSets.map { changes in
                        changes.contains { path, key in local.entry(path, in: head) != key.map { blobs[$0]! } }
                    }
                    guard
                        let commit = try local.commit(
                            parent: head, changes: merged, message: message, author: options.author, now: options.now())
                    else {
                        // "Already there" is only said of the branch as it is now: an assumed head is fetched first.
                        if !fetched {
                            head = try fetch()
                            fetched = true
                            continue
                        }
                        guard let head else {
                            throw GitError(
                                .invalid, operation: "commit", remote: remote.url,
                                message: "nothing to write to an empty branch")
                        }
                        return .done(
                            Outcome(commit: head, changed: changed.map { _ in false }), blobs: blobs, committed: false,
                            fetched: fetched)
                    }
                    if let rejection = try local.push(
                        remote, authentication: authentication, commit: commit, branch: options.branch,
                        cancellation: cancellation)
                    {
                        return .rejected(rejection, blobs: blobs, fetched: fetched)
                    }
                    return .done(
                        Outcome(commit: commit, changed: changed), blobs: blobs, committed: true, fetched: fetched)
                }
            }
            switch result {
            case .done(let outcome, let blobs, let committed, let fetched):
                remember(blobs)
                knownHead = outcome.commit
                if fetched { stats.fetches += 1 }
                if committed {
                    stats.commits += 1
                    stats.pushes += 1
                }
                return outcome
            case .rejected(let reason, let blobs, let fetched):
                remember(blobs)
                if fetched { stats.fetches += 1 }
                stats.pushes += 1
                stats.rejections += 1
                // Built on the head this writer last pushed and refused: the branch moved since; fetch at once.
                if !fetched { continue }
                guard attempt < options.maxAttempts else {
                    throw GitError(
                        .nonFastForward, operation: "push", remote: remote.url,
                        message: "branch \(options.branch) kept moving: \(attempt) pushes refused (last: \(reason))",
                        hint: "another writer pushes to this branch continuously; run again later")
                }
                let backoff = min(options.backoff * (1 << min(attempt - 1, 16)), options.maxBackoff)
                try await Task.sleep(for: backoff * Double.random(in: 0.5...1))
            }
        }
    }

    private func remember(_ blobs: [ContentKey: ObjectID]) {
        for (key, id) in blobs where written[key] == nil {
            written[key] = id
            contents[key] = nil
            stats.blobsWritten += 1
        }
    }

    /// One cluster: its own message. Several: the common message (or a summary) and the clusters by name.
    private static func message(for batch: [Pending]) -> String {
        guard batch.count > 1 else { return batch.first?.message ?? "fleetstrap" }
        let messages = Set(batch.map(\.message))
        let subject =
            messages.count == 1
            ? batch[0].message.split(separator: "\n").first.map(String.init) ?? ""
            : "fleetstrap: update \(batch.count) clusters"
        let names = batch.map {
            messages.count == 1
                ? "- \($0.cluster)" : "- \($0.cluster): \($0.message.split(separator: "\n").first ?? "")"
        }
        return "\(subject) (\(batch.count) clusters)\n\n" + names.joined(separator: "\n") + "\n"
    }

    // MARK: Paths

    static func normalizedDirectory(_ directory: String, cluster: String, remote: String) throws(GitError) -> String {
        var folder = directory
        while folder.hasPrefix("./") { folder.removeFirst(2) }
        while folder.hasSuffix("/") { folder.removeLast() }
        let parts = folder.split(separator: "/", omittingEmptySubsequences: false)
        guard !folder.isEmpty, !folder.hasPrefix("/"), !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." })
        else {
            throw GitError(
                .invalid, operation: "write", remote: remote,
                message: "cluster \(cluster): '\(directory)' is not a folder inside the repository")
        }
        return folder
    }

    static func check(_ path: String, under folder: String, cluster: String, remote: String) throws(GitError) {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard path.hasPrefix(folder + "/"), !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }),
            !path.contains("\0")
        else {
            throw GitError(
                .invalid, operation: "write", remote: remote,
                message: "cluster \(cluster): '\(path)' is outside its folder '\(folder)/'; nothing was written")
        }
    }
}
