// A rival writer on the lab's repositories: another team's commit lands just before fleetstrap's push, so the
// push is non-fast-forward, as when several writers share a repository. One shell script does it with Git's
// plumbing on the bare repository, for both transports: the HTTPS service calls it before `git http-backend`,
// the SSH git-shell before `git-receive-pack`. Marker files say how many of the next pushes to race.
import Foundation

struct RivalPusher: Sendable {
    let directory: String
    let repositoriesRoot: String

    var script: String { "\(directory)/rival-push.sh" }
    var markers: String { "\(directory)/next" }

    init(directory stateDirectory: String, repositoriesRoot: String) throws {
        directory = "\(stateDirectory)/rival"
        self.repositoriesRoot = repositoriesRoot
        try FileManager.default.createDirectory(atPath: "\(directory)/next", withIntermediateDirectories: true)
        try Self.source.write(toFile: script, atomically: true, encoding: .utf8)
    }

    /// The marker of a repository: how many of its next pushes a rival commit precedes.
    func marker(accountID: String, repository: String) -> String { "\(markers)/\(accountID)/\(repository)" }

    /// Rewrites the markers from the faults in force.
    func arm(_ faults: LabFaults, accountIDs: (String) -> String?) {
        let fm = FileManager.default
        try? fm.removeItem(atPath: markers)
        try? fm.createDirectory(atPath: markers, withIntermediateDirectories: true)
        for push in faults.rivalPushes ?? [] {
            let accountID = accountIDs(push.account) ?? push.account
            try? fm.createDirectory(atPath: "\(markers)/\(accountID)", withIntermediateDirectories: true)
            try? "\(push.pushes ?? 1)\n".write(
                toFile: marker(accountID: accountID, repository: push.repository), atomically: true, encoding: .utf8)
        }
    }

    /// Pushes a rival commit now; returns its id.
    func push(accountID: String, repository: String, ref: String?) async throws -> String {
        let output = try await LabProcess.run(
            "/bin/sh", [script, "\(repositoriesRoot)/\(accountID)/\(repository).git", "", ref ?? ""],
            environment: ["PATH": "/usr/bin:/bin"])
        guard output.status == 0 else { throw LabFailure("rival push to \(repository) failed: \(output.stderr)") }
        return String(decoding: output.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Before a push over HTTPS: a rival commit on `ref` if the repository's marker asks for one.
    func raceIfArmed(accountID: String, repository: String, ref: String?) async {
        let marker = marker(accountID: accountID, repository: repository)
        guard FileManager.default.fileExists(atPath: marker) else { return }
        _ = try? await LabProcess.run(
            "/bin/sh", [script, "\(repositoriesRoot)/\(accountID)/\(repository).git", marker, ref ?? ""],
            environment: ["PATH": "/usr/bin:/bin"])
    }

    /// `rival-push.sh <repo.git> [<marker>] [<ref>]`: with a marker, only while its count is above zero
    /// (decremented under flock); the commit adds `rival/<time>.txt` on top of `ref` (default: HEAD's branch).
    static let source = """
        #!/bin/sh
        # fleetstrap lab: a rival writer (see RivalPusher.swift).
        set -eu
        repo=$1; marker=${2:-}; ref=${3:-}
        if [ -n "$marker" ]; then
          [ -f "$marker" ] || exit 0
          exec 9>"$marker.lock"
          flock 9
          n=$(cat "$marker" 2>/dev/null || echo 0)
          [ "$n" -gt 0 ] 2>/dev/null || exit 0
          echo $((n - 1)) > "$marker"
        fi
        [ -n "$ref" ] || ref=$(git -C "$repo" symbolic-ref HEAD)
        old=$(git -C "$repo" rev-parse -q --verify "$ref^{commit}" || true)
        GIT_INDEX_FILE=$(mktemp -u "${TMPDIR:-/tmp}/fleetstrap-rival-index.XXXXXX"); export GIT_INDEX_FILE
        trap 'rm -f "$GIT_INDEX_FILE"' EXIT
        if [ -n "$old" ]; then git -C "$repo" read-tree "$old"; fi
        stamp=$(date +%s%N)
        blob=$(printf 'rival change %s\\n' "$stamp" | git -C "$repo" hash-object -w --stdin)
        git -C "$repo" update-index --add --cacheinfo "100644,$blob,rival/$stamp.txt"
        tree=$(git -C "$repo" write-tree)
        export GIT_AUTHOR_NAME=rival GIT_AUTHOR_EMAIL=rival@fleetstrap-lab GIT_COMMITTER_NAME=rival \
        GIT_COMMITTER_EMAIL=rival@fleetstrap-lab
        if [ -n "$old" ]; then
          commit=$(echo "rival push $stamp" | git -C "$repo" commit-tree "$tree" -p "$old")
          git -C "$repo" update-ref "$ref" "$commit" "$old"
        else
          commit=$(echo "rival push $stamp" | git -C "$repo" commit-tree "$tree")
          git -C "$repo" update-ref "$ref" "$commit"
        fi
        echo "$commit"

        """
}
