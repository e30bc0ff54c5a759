// CodeCommit's Git over SSH, served by Debian's sshd with a user database of its own (nss_wrapper): the login
// user is the SSH key id, and only the Active key of that id, as IAM holds it now, may log in.
import FleetSupport
import Foundation

final class LabSSHServer: @unchecked Sendable {
    let directory: String
    let repositoriesRoot: String
    let state: LabState
    let rival: RivalPusher
    private(set) var port = 0
    private(set) var hostKeyLine = ""
    private var pid: pid_t?
    private let lock = NSLock()

    static let nssWrapper = [
        "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so", "/usr/lib/aarch64-linux-gnu/libnss_wrapper.so",
        "/usr/lib/libnss_wrapper.so",
    ]

    /// Why SSH cannot be served here, or nil when it can.
    static func unavailableReason() -> String? {
        if getuid() != 0 { return "sshd needs root here (the lab's recipe runs it as root)" }
        if !FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd") {
            return "sshd is not installed (apt-get install openssh-server)"
        }
        if nssWrapper.first(where: { FileManager.default.fileExists(atPath: $0) }) == nil {
            return "libnss-wrapper is not installed (apt-get install libnss-wrapper)"
        }
        return nil
    }

    init(directory: String, repositoriesRoot: String, state: LabState, rival: RivalPusher) {
        self.rival = rival
        self.directory = directory
        self.repositoriesRoot = repositoriesRoot
        self.state = state
    }

    func start() async throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: "\(directory)/keys", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: "\(directory)/accounts", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        let hostKey = "\(directory)/ssh_host_ed25519_key"
        if !fm.fileExists(atPath: hostKey) {
            let keygen = try await LabProcess.run(
                "/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey])
            guard keygen.status == 0 else { throw LabFailure("ssh-keygen failed: \(keygen.stderr)") }
        }
        guard let free = LoopbackPort.free() else { throw LabFailure("no free port on 127.0.0.1") }
        port = free
        let publicKey = try String(contentsOfFile: hostKey + ".pub", encoding: .utf8).split(separator: " ").prefix(2)
            .joined(separator: " ")
        hostKeyLine = "[127.0.0.1]:\(port) \(publicKey)"
        try writeShell()
        syncKeys()
        try """
        Port \(port)
        ListenAddress 127.0.0.1
        HostKey \(hostKey)
        PidFile \(directory)/sshd.pid
        UsePAM no
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        PubkeyAuthentication yes
        PubkeyAcceptedAlgorithms +ssh-rsa
        AuthorizedKeysFile none
        AuthorizedKeysCommand /bin/cat \(directory)/keys/%u
        AuthorizedKeysCommandUser root
        PermitRootLogin yes
        StrictModes no
        ForceCommand \(directory)/git-shell
        AllowTcpForwarding no
        X11Forwarding no
        PermitTTY no
        MaxStartups 100:30:200
        LogLevel VERBOSE

        """.write(toFile: "\(directory)/sshd_config", atomically: true, encoding: .utf8)
        let child = try LabProcess.spawnDaemon(
            "/usr/sbin/sshd", ["-D", "-f", "\(directory)/sshd_config", "-E", "\(directory)/sshd.log"],
            environment: [
                "LD_PRELOAD": Self.nssWrapper.first { fm.fileExists(atPath: $0) }!,
                "NSS_WRAPPER_PASSWD": "\(directory)/passwd", "NSS_WRAPPER_GROUP": "\(directory)/group",
                "PATH": "/usr/sbin:/usr/bin:/bin",
            ])
        lock.withLock { pid = child }
        let deadline = Date().addingTimeInterval(10)
        while !LoopbackPort.isListening(port) {
            guard LabProcess.isRunning(child), Date() < deadline else {
                stop()
                let log = (try? String(contentsOfFile: "\(directory)/sshd.log", encoding: .utf8)) ?? ""
                throw LabFailure("sshd did not start: \(log.suffix(500))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func stop() {
        guard
            let child = lock.withLock({ () -> pid_t? in
                defer { pid = nil }
                return pid
            })
        else { return }
        LabProcess.terminate(child)
    }

    /// Rewrites who may log in from IAM's state: one passwd line and one key file per Active key, nothing else.
    func syncKeys() {
        lock.lock()
        defer { lock.unlock() }
        let fm = FileManager.default
        let active = state.activeKeys()
        var passwd = "root:x:0:0:root:/root:/bin/sh\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n"
        for key in active { passwd += "\(key.id):x:0:0:lab:\(directory):/bin/sh\n" }
        try? Self.writeAtomically(passwd, to: "\(directory)/passwd")
        try? Self.writeAtomically("root:x:0:\nnogroup:x:65534:\n", to: "\(directory)/group")
        let wanted = Set(active.map(\.id))
        for file in (try? fm.contentsOfDirectory(atPath: "\(directory)/keys")) ?? [] where !wanted.contains(file) {
            try? fm.removeItem(atPath: "\(directory)/keys/\(file)")
        }
        for key in active {
            try? Self.writeAtomically(key.body + "\n", to: "\(directory)/keys/\(key.id)")
            try? Self.writeAtomically(key.accountID, to: "\(directory)/accounts/\(key.id)")
        }
    }

    /// The ForceCommand: only git-upload-pack and git-receive-pack, only on `/v1/repos/<name>` of the key's account.
    private func writeShell() throws {
        let script = """
            #!/bin/sh
            # fleetstrap lab: what CodeCommit's SSH endpoint allows, nothing more.
            set -f
            cmd=${SSH_ORIGINAL_COMMAND%% *}
            arg=$(printf '%s' "${SSH_ORIGINAL_COMMAND#* }" | tr -d "'\\"")
            case "$cmd" in
              git-upload-pack|git-receive-pack) ;;
              *) echo "fleetstrap-lab: only git-upload-pack and git-receive-pack are served" >&2; exit 128 ;;
            esac
            case "$arg" in
              /v1/repos/*) name=${arg#/v1/repos/} ;;
              *) echo "fatal: '$arg' is not a CodeCommit repository path (/v1/repos/<name>)" >&2; exit 128 ;;
            esac
            case "$name" in ""|*/*|*..*) echo "fatal: invalid repository name" >&2; exit 128 ;; esac
            user=${USER:-$(id -un)}
            account=$(cat "\(directory)/accounts/$user" 2>/dev/null) || { echo "fatal: unknown key id" >&2; exit 128; }
            repo="\(repositoriesRoot)/$account/$name.git"
            [ -d "$repo" ] || { echo "fatal: repository '$arg' does not exist" >&2; exit 128; }
            if [ "$cmd" = git-receive-pack ] && [ -f "\(rival.markers)/$account/$name" ]; then
              /bin/sh "\(rival.script)" "$repo" "\(rival.markers)/$account/$name" >/dev/null 2>&1 || true
            fi
            exec "$cmd" "$repo"

            """
        try script.write(toFile: "\(directory)/git-shell", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(directory)/git-shell")
    }

    static func writeAtomically(_ text: String, to path: String) throws {
        try text.write(toFile: path + ".tmp", atomically: false, encoding: .utf8)
        _ = rename(path + ".tmp", path)
    }

}

public struct LabFailure: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
