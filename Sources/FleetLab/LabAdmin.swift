// The lab's admin endpoint, on its HTTPS listener under /_lab/, for tests and benchmarks that change the lab
// while it runs. Bearer token from lab.json (`adminToken`).
//   GET  /_lab/faults          the faults in force (JSON)
//   PUT  /_lab/faults          replace them (JSON or YAML, LabFaults' shape)
//   GET  /_lab/counters        what the lab served (LabCounters)
//   DELETE /_lab/counters      start counting afresh
//   POST /_lab/rival-push      {"account": "...", "repository": "...", "branch": "main"}: a rival commit, now
import Foundation
import Yams

struct LabAdmin {
    let lab: Lab

    func handle(_ request: LabRequest) async -> LabResponse {
        guard request.header("Authorization") == "Bearer \(lab.info.adminToken)" else {
            return Self.error(401, "the admin endpoint needs 'Authorization: Bearer <adminToken from lab.json>'")
        }
        do {
            switch (request.method, request.path) {
            case ("GET", "/_lab/faults"):
                return try Self.json(lab.faults.current)
            case ("PUT", "/_lab/faults"):
                let text = String(decoding: request.body, as: UTF8.self)
                let faults =
                    text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
                    ? LabFaults() : try YAMLDecoder().decode(LabFaults.self, from: text)
                try await lab.setFaults(faults)
                return try Self.json(lab.faults.current)
            case ("GET", "/_lab/counters"):
                return try Self.json(lab.counters())
            case ("DELETE", "/_lab/counters"):
                lab.state.resetCounters()
                return LabResponse(status: 204)
            case ("POST", "/_lab/rival-push"):
                struct Push: Decodable {
                    var account: String
                    var repository: String
                    var branch: String?
                }
                let push = try JSONDecoder().decode(Push.self, from: Data(request.body))
                let commit = try await lab.rivalPush(
                    account: push.account, repository: push.repository, branch: push.branch)
                return try Self.json(["commit": commit])
            default:
                return Self.error(404, "no admin route \(request.method) \(request.path)")
            }
        } catch let error as DecodingError {
            return Self.error(400, "the body does not read as the route expects: \(error)")
        } catch {
            return Self.error(400, "\(error)")
        }
    }

    static func json(_ value: some Encodable) throws -> LabResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return LabResponse(
            status: 200, headers: [("Content-Type", "application/json")], body: Array(try encoder.encode(value)))
    }

    static func error(_ status: Int, _ message: String) -> LabResponse {
        LabResponse.json(["error": message], status: status)
    }
}
