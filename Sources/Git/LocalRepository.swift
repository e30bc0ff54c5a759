// A bare local repository that mirrors one branch of a remote: fetch it, write blobs, build a commit from path
// changes on top of the fetched head (no work tree, no index), push it. Blocking calls: run them on a GitThread,
// one operation at a time per repository (the writer's actor sees to that).
import CGit2
import CGitSocket
import FleetSupport
import Foundation

public final class LocalRepository: @unchecked Sendable {  // one operation at a time; libgit2 objects are not shared
    let pointer: OpaquePointer
    public let path: String

    /// Opens the bare repository at `path`, making it if it does not exist.
    public static func openOrCreate(path: String) throws(GitError) -> LocalRepository {
        GitLibrary.initialize()
        var repository: OpaquePointer?
        if FileManager.default.fileExists(atPath: "\(path)/HEAD") {
            guard git_repository_open_bare(&repository, path) == 0, let repository else {
                throw GitError.last(-1, operation: "open", remote: path)
            }
            return LocalRepository(pointer: repository, path: path)
        }
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard git_repository_init(&repository, path, 1) == 0, let repository else {
            throw GitError.last(-1, operation: "init", remote: path)
        }
        return LocalRepository(pointer: repository, path: path)
    }

    /// Removes the `*.lock` files a killed process left in the repository at `path` (its refs, packed-refs, HEAD,
    /// config): libgit2 refuses every later update of those files while they exist. Only for a repository that no
    /// other process can be writing: a writer's mirror, which one run at a time holds. Answers what was removed.
    @discardableResult
    public static func removeStaleLocks(path: String) -> [String] {
        let files = FileManager.default
        var removed: [String] = []
        var candidates = (try? files.contentsOfDirectory(atPath: path)) ?? []
        if let refs = files.enumerator(atPath: "\(path)/refs") {
            candidates += refs.compactMap { ($0 as? String).map { "refs/\($0)" } }
        }
        for name in candidates where name.hasSuffix(".lock") {
            if (try? files.removeItem(atPath: "\(path)/\(name)")) != nil { removed.append(name) }
        }
        return removed.sorted()
    }

    private init(pointer: OpaquePointer, path: String) {
        self.pointer = pointer
        self.path = path
    }

    deinit { git_repository_free(pointer) }

    /// The remote-tracking ref a branch is fetched into.
    static func trackingRef(_ branch: String) -> String { "refs/remotes/origin/\(branch)" }

    // MARK: Network

    /// Fetches `branch`; returns the remote's head of it, nil when the branch does not exist there yet.
    func fetch(
        _ remote: GitRemote, authentication: GitAuthentication.Resolved, branch: String, cancellation: Cancellation
    ) throws(GitError) -> ObjectID? {
        let tracking = Self.trackingRef(branch)
        // Forget the last fetch's head: after this fetch the tracking ref exists only if the server has the branch.
        var stale: OpaquePointer?
        if git_reference_lookup(&stale, pointer, tracking) == 0 {
            git_reference_delete(stale)
            git_reference_free(stale)
        }
        try withRemote(remote, operation: "fetch", authentication: authentication, cancellation: cancellation) {
            handle, state throws(GitError) in
            var options = git_fetch_options()
            git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION))
            state.install(&options.callbacks)
            options.prune = GIT_FETCH_NO_PRUNE
            options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE
            let code = Self.withPreemptiveAuthorization(authentication, url: remote.url, state: state) {
                headers, redirects in
                options.custom_headers = headers
                options.follow_redirects = redirects
                return Self.withStrings(["+refs/heads/\(branch):\(tracking)"]) { refspecs in
                    git_remote_fetch(handle, &refspecs, &options, "fleetstrap: fetch")
                }
            }
            guard code == 0 else { throw state.failure ?? GitError.last(code, operation: "fetch", remote: remote.url) }
        }
        var oid = git_oid()
        guard git_reference_name_to_id(&oid, pointer, tracking) == 0 else { return nil }
        return ObjectID(oid)
    }

    /// Pushes `commit` to `branch` (never forced). Returns nil when the server took it, or the server's reason.
    func push(
        _ remote: GitRemote, authentication: GitAuthentication.Resolved, commit: ObjectID, branch: String,
        cancellation: Cancellation
    ) throws(GitError) -> String? {
        // The commit is pushed from a local branch of the same name.
        var reference: OpaquePointer?
        var oid = commit.oid
        guard git_reference_create(&reference, pointer, "refs/heads/\(branch)", &oid, 1, "fleetstrap: batch") == 0
        else {
            throw GitError.last(-1, operation: "push", remote: remote.url)
        }
        git_reference_free(reference)
        var rejection: String?
        try withRemote(remote, operation: "push", authentication: authentication, cancellation: cancellation) {
            handle, state throws(GitError) in
            var options = git_push_options()
            git_push_options_init(&options, UInt32(GIT_PUSH_OPTIONS_VERSION))
            state.install(&options.callbacks)
            let code = Self.withPreemptiveAuthorization(authentication, url: remote.url, state: state) {
                headers, redirects in
                options.custom_headers = headers
                options.follow_redirects = redirects
                return Self.withStrings(["refs/heads/\(branch):refs/heads/\(branch)"]) { refspecs in
                    git_remote_push(handle, &refspecs, &options)
                }
            }
            if code != 0 {
                let error = state.failure ?? GitError.last(code, operation: "push", remote: remote.url)
                guard error.kind == .nonFastForward else { throw error }
                rejection = error.message
                return
            }
            rejection = state.rejected["refs/heads/\(branch)"]
        }
        return rejection
    }

    private func withRemote(
        _ remote: GitRemote, operation: String, authentication: GitAuthentication.Resolved, cancellation: Cancellation,
        _ body: (OpaquePointer, OperationState) throws(GitError) -> Void
    ) throws(GitError) {
        // An in-memory remote at exactly the inventory's URL: the operator's `url.<base>.insteadOf` is not applied,
        // since fleetstrap must write where Flux on the cluster reads (and libgit2 1.5 leaks about 17 KB of PCRE2 match
        // data for each config entry the insteadOf lookup tries, twice per remote: 100 KB a fetch or push, found by
        // heaptrack).
        var options = git_remote_create_options()
        git_remote_create_options_init(&options, UInt32(GIT_REMOTE_CREATE_OPTIONS_VERSION))
        options.repository = pointer
        options.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF.rawValue
        var handle: OpaquePointer?
        guard git_remote_create_with_opts(&handle, remote.url, &options) == 0, let handle else {
            throw GitError.last(-1, operation: operation, remote: remote.url)
        }
        defer { git_remote_free(handle) }
        let state = OperationState(
            operation: operation, remote: remote, authentication: authentication, cancellation: cancellation)
        fs_git_socket_clear_failure()
        do {
            try withExtendedLifetime(state) { () throws(GitError) in
                try body(handle, state)
            }
        } catch {
            // Stopped by the socket stream while it waited on the network: libgit2 reports a network error.
            if cancellation.isCancelled, error.kind != .cancelled {
                throw GitError(
                    .cancelled, operation: operation, remote: remote.url, message: "cancelled", libgit2: error.libgit2)
            }
            // The connection's own account of a timeout or a reset, which libgit2's TLS layer reports as a generic
            // error.
            if error.kind == .transport || error.kind == .other, let failure = fs_git_socket_failure() {
                throw GitError(.transport, operation: operation, remote: remote.url, message: String(cString: failure))
            }
            throw Self.explained(error, authentication: authentication)
        }
    }

    /// CodeCommit refuses a bad Git password with 403 (not 401), which libgit2 reports as an unexpected status.
    static func explained(_ error: GitError, authentication: GitAuthentication.Resolved) -> GitError {
        guard
            error.kind == .authentication || error.message.contains("status code: 403")
                || error.message.contains("status code: 401"),
            case .basic(let username, _) = authentication, error.libgit2 != nil
        else { return error }
        let user = username.split(separator: "%").first.map(String.init) ?? username
        return GitError(
            .authentication, operation: error.operation, remote: error.remote,
            message: "the server refused the password of \(user) (\(error.message))", libgit2: error.libgit2,
            hint:
                """
                check the credentials' account and permissions (codecommit:GitPull, codecommit:GitPush) and the \
                repository's region
                """
        )
    }

    /// HTTPS with a password: sent with the first request, as `git -c http.extraHeader` does, instead of after a 401
    /// challenge that costs every fetch and push a round trip (libgit2 only answers challenges). Redirects are not
    /// followed then: the header would go wherever the server points. A challenge still coming means the password
    /// was refused (the credential callback says so). Other authentications: no header, libgit2's defaults.
    static func withPreemptiveAuthorization<R>(
        _ authentication: GitAuthentication.Resolved, url: String, state: OperationState,
        _ body: (git_strarray, git_remote_redirect_t) -> R
    ) -> R {
        guard case .basic(let username, let password) = authentication, url.lowercased().hasPrefix("https://") else {
            return body(git_strarray(strings: nil, count: 0), GIT_REMOTE_REDIRECT_INITIAL)
        }
        state.credentialAttempts = 1
        var header = Array(
            "Authorization: Basic \(Data("\(username):\(password.reveal())".utf8).base64EncodedString())".utf8CString)
        return header.withUnsafeMutableBufferPointer { text in
            var pointer: UnsafeMutablePointer<CChar>? = text.baseAddress
            return withUnsafeMutablePointer(to: &pointer) { strings in
                body(git_strarray(strings: strings, count: 1), GIT_REMOTE_REDIRECT_NONE)
            }
        }
    }

    static func withStrings<R>(_ strings: [String], _ body: (inout git_strarray) -> R) -> R {
        var pointers = strings.map { strdup($0) }
        defer { for pointer in pointers { free(pointer) } }
        return pointers.withUnsafeMutableBufferPointer { buffer in
            var array = git_strarray(strings: buffer.baseAddress, count: buffer.count)
            return body(&array)
        }
    }

    // MARK: Objects

    /// Writes a blob (identical content is one object) and returns its id.
    public func writeBlob(_ bytes: [UInt8]) throws(GitError) -> ObjectID {
        var oid = git_oid()
        let code = bytes.withUnsafeBytes { git_blob_create_from_buffer(&oid, pointer, $0.baseAddress, $0.count) }
        guard code == 0 else { throw GitError.last(code, operation: "write blob", remote: path) }
        return ObjectID(oid)
    }

    /// The blob id at `path` in `commit`'s tree, nil when there is none.
    public func entry(_ path: String, in commit: ObjectID?) -> ObjectID? {
        guard let commit, let tree = tree(of: commit) else { return nil }
        defer { git_tree_free(tree) }
        var entry: OpaquePointer?
        guard git_tree_entry_bypath(&entry, tree, path) == 0, let entry else { return nil }
        defer { git_tree_entry_free(entry) }
        return ObjectID(git_tree_entry_id(entry).pointee)
    }

    /// The bytes of the blob at `path` in `commit`, nil when there is none.
    public func read(_ path: String, in commit: ObjectID?) -> [UInt8]? {
        guard let id = entry(path, in: commit) else { return nil }
        var blob: OpaquePointer?
        var oid = id.oid
        guard git_blob_lookup(&blob, pointer, &oid) == 0, let blob else { return nil }
        defer { git_blob_free(blob) }
        return Array(UnsafeRawBufferPointer(start: git_blob_rawcontent(blob), count: Int(git_blob_rawsize(blob))))
    }

    private func tree(of commit: ObjectID) -> OpaquePointer? {
        var object: OpaquePointer?
        var oid = commit.oid
        guard git_commit_lookup(&object, pointer, &oid) == 0, let object else { return nil }
        defer { git_commit_free(object) }
        var tree: OpaquePointer?
        guard git_commit_tree(&tree, object) == 0 else { return nil }
        return tree
    }

    public struct Author: Sendable, Equatable {
        public var name: String
        public var email: String
        /// Flux's default: `Flux`, no e-mail.
        public static let flux = Author(name: "Flux", email: "")
        public init(name: String, email: String) { (self.name, self.email) = (name, email) }
    }

    /// A commit on `parent` (nil: a root commit) with `changes` (path → blob, or nil to delete) applied to its tree.
    /// Nil when the tree would not change.
    func commit(parent: ObjectID?, changes: [String: ObjectID?], message: String, author: Author, now: Date)
        throws(GitError) -> ObjectID?
    {
        let baseline = parent.flatMap { tree(of: $0) }
        defer { if let baseline { git_tree_free(baseline) } }
        // Deleting what is not there is no change (libgit2 would refuse it).
        let effective = changes.filter { path, blob in blob != nil || entry(path, in: parent) != nil }.sorted {
            $0.key < $1.key
        }
        var newTree = git_oid()
        let paths = effective.map { strdup($0.key) }
        defer { for path in paths { free(path) } }
        var updates = effective.enumerated().map { index, change in
            git_tree_update(
                action: change.value == nil ? GIT_TREE_UPDATE_REMOVE : GIT_TREE_UPDATE_UPSERT,
                id: change.value?.oid ?? git_oid(), filemode: GIT_FILEMODE_BLOB, path: paths[index])
        }
        let code = git_tree_create_updated(&newTree, pointer, baseline, updates.count, &updates)
        guard code == 0 else { throw GitError.last(code, operation: "build tree", remote: path) }
        if let baseline, git_oid_equal(&newTree, git_tree_id(baseline)) != 0 { return nil }
        if baseline == nil, effective.isEmpty { return nil }

        // The commit object is written as Git spells it, so Flux's author (`Flux <>`, an empty e-mail, which
        // git_signature_new refuses) is kept exactly.
        let seconds = Int(now.timeIntervalSince1970)
        let offset = TimeZone.current.secondsFromGMT(for: now) / 60
        let zone = String(format: "%@%02d%02d", offset < 0 ? "-" : "+", abs(offset) / 60, abs(offset) % 60)
        let person = "\(author.name) <\(author.email)> \(seconds) \(zone)"
        var text = "tree \(ObjectID(newTree).hex)\n"
        if let parent { text += "parent \(parent.hex)\n" }
        text += "author \(person)\ncommitter \(person)\n\n\(message.hasSuffix("\n") ? message : message + "\n")"
        var odb: OpaquePointer?
        guard git_repository_odb(&odb, pointer) == 0 else { throw GitError.last(-1, operation: "commit", remote: path) }
        defer { git_odb_free(odb) }
        var out = git_oid()
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { git_odb_write(&out, odb, $0.baseAddress, $0.count, GIT_OBJECT_COMMIT) }
        guard written == 0 else { throw GitError.last(written, operation: "commit", remote: path) }
        return ObjectID(out)
    }

    /// Whether the object is in this repository.
    public func has(_ id: ObjectID) -> Bool {
        var odb: OpaquePointer?
        guard git_repository_odb(&odb, pointer) == 0 else { return false }
        defer { git_odb_free(odb) }
        var oid = id.oid
        return git_odb_exists(odb, &oid) == 1
    }

    /// Whether `commit` descends from `ancestor`.
    public func isDescendant(_ commit: ObjectID, of ancestor: ObjectID) -> Bool {
        var a = commit.oid
        var b = ancestor.oid
        return git_graph_descendant_of(pointer, &a, &b) == 1
    }

    /// The parents of a commit, first first.
    public func parents(of commit: ObjectID) -> [ObjectID] {
        var object: OpaquePointer?
        var oid = commit.oid
        guard git_commit_lookup(&object, pointer, &oid) == 0, let object else { return [] }
        defer { git_commit_free(object) }
        return (0..<git_commit_parentcount(object)).compactMap {
            git_commit_parent_id(object, $0).map { ObjectID($0.pointee) }
        }
    }

    /// A commit's message.
    public func message(of commit: ObjectID) -> String? {
        var object: OpaquePointer?
        var oid = commit.oid
        guard git_commit_lookup(&object, pointer, &oid) == 0, let object else { return nil }
        defer { git_commit_free(object) }
        return git_commit_message(object).map { String(cString: $0) }
    }
}

/// libgit2's global state: initialised once, with the system's CA bundle for mbedTLS.
enum GitLibrary {
    private static let once: Void = {
        git_libgit2_init()
        for bundle in ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]
        where FileManager.default.fileExists(atPath: bundle) {
            _ = fs_git_opts_set_ssl_cert_locations(bundle, nil)
            break
        }
        _ = fs_git_opts_set_user_agent("fleetstrap")
        // Bounded whatever the repositories grow to (a fleet's repository holds every cluster's files): libgit2's
        // object cache defaults to 256 MB and its mapped pack windows to 8 GB on 64-bit systems.
        _ = fs_git_opts_set_cache_max_size(cacheLimit)
        _ = fs_git_opts_set_mwindow_mapped_limit(mappedLimit)
        // Git's connections with TCP_NODELAY, bounded waits and cancellation (libgit2 1.5 has none of the three).
        _ = fs_git_socket_register(connectTimeoutMilliseconds, idleTimeoutMilliseconds)
    }()

    /// To open a connection, and with nothing received or sent while waiting (a push's answer waits on the server's
    /// hooks and checks: generous).
    static let connectTimeoutMilliseconds: Int32 = 30_000
    static let idleTimeoutMilliseconds: Int32 = 120_000

    static let cacheLimit = 32 << 20
    static let mappedLimit = 128 << 20

    static func initialize() { _ = once }
}
