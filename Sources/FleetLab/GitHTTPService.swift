// CodeCommit's Git over HTTPS as the lab serves it: Basic auth checked as CodeCommit checks it (a SigV4 `GIT`
// password for the repository path, about 15 minutes' validity, `AKID` or `AKID%token` as user), then the real
// `git http-backend` answers.
import FleetSupport
import Foundation
import SigV4

struct GitHTTPService {
    let state: LabState
    let repositoriesRoot: String
    var faults: FaultInjector?
    var rival: RivalPusher?
    static let validity: TimeInterval = 15 * 60

    func handle(_ request: LabRequest) async -> LabResponse {
        // /v1/repos/<name>[/info/refs | /git-upload-pack | /git-receive-pack | ...]
        let rest = request.path.dropFirst("/v1/repos/".count)
        let name = String(rest.prefix(while: { $0 != "/" }))
        let suffix = String(rest.dropFirst(name.count))
        let operation =
            suffix.hasSuffix("git-receive-pack") || request.rawQuery.contains("service=git-receive-pack")
            ? "git-receive-pack" : "git-upload-pack"
        // No body: libgit2 1.5 leaves a 401's body unread when it arrives in a TLS record of its own, then reads it
        // as the start of the next response ("http parser error: invalid constant string").
        let challenge = LabResponse(
            status: 401, headers: [("WWW-Authenticate", "Basic realm=\"fleetstrap-lab CodeCommit\"")])
        guard let authorization = request.header("Authorization"), authorization.hasPrefix("Basic "),
            let decoded = Data(base64Encoded: String(authorization.dropFirst(6))).map({
                String(decoding: $0, as: UTF8.self)
            }),
            let colon = decoded.firstIndex(of: ":")
        else {
            state.countChallenge()
            return challenge
        }
        // Sent as is: `AKID%sessionToken` is not percent-encoding (the token holds `+`, `/` and `%`-like pairs).
        let user = String(decoded[..<colon])
        let password = String(decoded[decoded.index(after: colon)...])
        guard
            let accountID = authenticate(user: user, password: password, name: name, host: request.header("Host") ?? "")
        else {
            state.count(service: "git", operation: operation, repository: name)
            state.count(.denied, service: "git")
            return LabResponse(
                status: 403,
                body: Array("fatal: unable to access: the Git password is not valid for this repository\n".utf8))
        }
        state.count(service: "git", operation: operation, repository: "\(accountID)/\(name)")
        let region = state.repositories(accountID: accountID, named: name).first?.region
        let call = FaultInjector.Call(
            service: "git", operation: operation, accountID: accountID, region: region, repository: name)
        if let injected = await faults?.intercept(call, answer: .git, state: state) { return injected }
        if request.method == "POST", suffix == "/git-receive-pack" {
            await rival?.raceIfArmed(accountID: accountID, repository: name, ref: Self.firstPushedRef(request.body))
            state.countPush(repository: "\(accountID)/\(name)")
        }
        let root = "\(repositoriesRoot)/\(accountID)"
        guard FileManager.default.fileExists(atPath: "\(root)/\(name).git") else {
            return LabResponse(status: 404, body: Array("repository \(name) not found\n".utf8))
        }
        var environment = [
            "GIT_PROJECT_ROOT": root, "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": "/\(name).git\(suffix)",
            "REQUEST_METHOD": request.method, "QUERY_STRING": request.rawQuery,
            "REMOTE_USER": user.split(separator: "%").first.map(String.init) ?? user,
            "REMOTE_ADDR": "127.0.0.1", "CONTENT_LENGTH": String(request.body.count), "PATH": "/usr/bin:/bin",
        ]
        if let type = request.header("Content-Type") { environment["CONTENT_TYPE"] = type }
        if let encoding = request.header("Content-Encoding") { environment["HTTP_CONTENT_ENCODING"] = encoding }
        if let protocolHeader = request.header("Git-Protocol") { environment["GIT_PROTOCOL"] = protocolHeader }
        do {
            let output = try await LabProcess.run(
                "/usr/bin/git", ["http-backend"], environment: environment, input: request.body)
            return Self.cgiResponse(output.stdout)
        } catch {
            return LabResponse(status: 500, body: Array("git http-backend failed: \(error)\n".utf8))
        }
    }

    /// The account whose repository `name` the credentials may use, or nil.
    func authenticate(user: String, password: String, name: String, host: String) -> String? {
        // IAM HTTPS Git credentials (service-specific): user name and password as IAM issued them.
        if let credential = state.gitCredential(serviceUserName: user) {
            guard credential.active, credential.password == password,
                !state.repositories(accountID: credential.accountID, named: name).isEmpty
            else { return nil }
            return credential.accountID
        }
        let parts = user.split(separator: "%", maxSplits: 1).map(String.init)
        guard let identity = state.identity(accessKeyID: parts[0]) else { return nil }
        if let token = identity.sessionToken {
            guard parts.count == 2, parts[1] == token else { return nil }
            if let expiration = identity.expiration, expiration < state.now() { return nil }
        }
        guard let m = password.wholeMatch(of: /(\d{8}T\d{6})Z([0-9a-f]{64})/),
            let date = AWSTimestamp.parseAmzDate("\(m.1)Z"), abs(date.timeIntervalSince(state.now())) <= Self.validity
        else { return nil }
        let credentials = AWSCredentials(
            accessKeyID: identity.accessKeyID, secretAccessKey: identity.secret, sessionToken: identity.sessionToken)
        for repo in state.repositories(accountID: identity.accountID, named: name) {
            let expected = CodeCommitGitCredentials.make(
                host: host, path: "/v1/repos/\(name)", region: repo.region, credentials: credentials, date: date)
            if expected.password.reveal() == password { return identity.accountID }
        }
        return nil
    }

    /// The ref of a receive-pack request's first command (pkt-line `old new ref\0capabilities`).
    static func firstPushedRef(_ body: [UInt8]) -> String? {
        guard body.count > 4, let length = Int(String(decoding: body[0..<4], as: UTF8.self), radix: 16), length > 4,
            length <= body.count
        else { return nil }
        let line = body[4..<length].prefix { $0 != 0 && $0 != 10 }
        let fields = String(decoding: line, as: UTF8.self).split(separator: " ")
        return fields.count == 3 && fields[2].hasPrefix("refs/") ? String(fields[2]) : nil
    }

    /// CGI output: headers (`Status:` among them), a blank line, the body.
    static func cgiResponse(_ output: [UInt8]) -> LabResponse {
        var headerEnd = 0
        var bodyStart = 0
        for i in 0..<output.count {
            if output[i] == 10, i + 1 < output.count, output[i + 1] == 10 {
                headerEnd = i
                bodyStart = i + 2
                break
            }
            if output[i] == 13, i + 3 < output.count, output[i + 1] == 10, output[i + 2] == 13, output[i + 3] == 10 {
                headerEnd = i
                bodyStart = i + 4
                break
            }
        }
        var status = 200
        var headers: [(String, String)] = []
        for line in String(decoding: output[0..<headerEnd], as: UTF8.self).split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[..<colon])
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name.lowercased() == "status" {
                status = Int(value.prefix(3)) ?? 500
            } else {
                headers.append((name, value))
            }
        }
        return LabResponse(status: status, headers: headers, body: Array(output[bodyStart...]))
    }
}
