// A holder's rotation as a state machine, with no lab: each phase, what the ledger records for it, the events it
// refuses, and a rotation picked up again from what the ledger left.
import Foundation
import Ledger
import Testing

@testable import Fleet

@Suite("Holder rotation")
struct HolderRotationTests {
    static let started = Date(timeIntervalSince1970: 1_800_000_000)
    static func record(old: [String] = ["APKAOLD1", "APKAOLD2"], new: String = "") -> RotationRecord {
        RotationRecord(
            runId: "r1", identity: "flux-prod", kind: .ssh, account: "111111111111", iamUser: "flux-prod",
            oldKeyIds: old, newKeyId: new, newFingerprint: nil, state: .switching, startedAt: started)
    }

    @Test func preparingSwitchingVerifiedRetired() throws {
        var rotation = HolderRotation(starting: Self.record())
        #expect(rotation.phase == .preparing && rotation.record.state == .switching)
        try rotation.handle(.made(credentialID: "APKANEW", fingerprint: "SHA256:x"))
        #expect(rotation.phase == .switching)
        #expect(rotation.record.newKeyId == "APKANEW" && rotation.record.newFingerprint == "SHA256:x")
        try rotation.handle(.switched(.init(total: 3)))
        #expect(rotation.phase == .verified && rotation.record.state == .switching && rotation.outcome == .partial)
        try rotation.handle(.retired(at: Self.started.addingTimeInterval(60)))
        #expect(rotation.phase == .retired && rotation.record.state == .retired && rotation.outcome == .rotated)
        #expect(rotation.record.endedAt == Self.started.addingTimeInterval(60))
        #expect(rotation.record.oldKeys == ["APKAOLD1", "APKAOLD2"])
    }

    @Test func theNewCredentialIsNeverAmongTheOldOnes() throws {
        // Killed after IAM took the key, before the key store had it: it was listed Active, and is adopted now.
        var rotation = HolderRotation(starting: Self.record(old: ["APKAOLD1", "APKANEW"]))
        try rotation.handle(.made(credentialID: "APKANEW", fingerprint: nil))
        #expect(rotation.record.oldKeys == ["APKAOLD1"])
    }

    @Test func clustersLeftBehindKeepTheOldCredentials() throws {
        var partial = HolderRotation(recorded: Self.record(new: "APKANEW"))
        try partial.handle(.switched(.init(notSwitched: ["prod-0003"], total: 3)))
        #expect(partial.phase == .partial && partial.record.state == .partial && partial.outcome == .partial)
        #expect(partial.record.detail == "1 of 3 clusters not switched (prod-0003)")

        var outside = HolderRotation(recorded: Self.record(new: "APKANEW"))
        try outside.handle(.switched(.init(total: 2, outside: ["dev-1"], what: "HTTPS Git credential")))
        #expect(outside.phase == .partial)
        #expect(outside.record.detail == "1 clusters outside this run still use another HTTPS Git credential (dev-1)")

        var rolledBack = HolderRotation(recorded: Self.record(new: "APKANEW"))
        try rolledBack.handle(.switched(.init(notSwitched: ["a", "b"], total: 2)))
        #expect(rolledBack.phase == .rolledBack && rolledBack.record.state == .partial)

        var interrupted = HolderRotation(recorded: Self.record(new: "APKANEW"))
        try interrupted.handle(.switched(.init(notSwitched: ["a", "b"], total: 2, interrupted: true)))
        #expect(interrupted.phase == .partial && interrupted.record.detail == "2 of 2 clusters not switched (a, b)")

        var unretired = HolderRotation(recorded: Self.record(new: "APKANEW"))
        try unretired.handle(.switched(.init(total: 2)))
        try unretired.handle(.retireFailed("IAM refused"))
        #expect(unretired.phase == .partial && unretired.record.detail == "IAM refused")
    }

    @Test func aRotationIsPickedUpWhereTheLedgerLeftIt() throws {
        #expect(HolderRotation(recorded: Self.record()).phase == .preparing)
        #expect(HolderRotation(recorded: Self.record(new: "APKANEW")).phase == .switching)
        var partial = Self.record(new: "APKANEW")
        partial.state = .partial
        var resumed = HolderRotation(recorded: partial)
        #expect(resumed.phase == .partial)
        try resumed.handle(.resumed)
        #expect(resumed.phase == .switching && resumed.record.state == .switching)
        var retired = Self.record(new: "APKANEW")
        retired.state = .retired
        #expect(HolderRotation(recorded: retired).phase == .retired)
    }

    @Test func eventsAPhaseCannotTakeAreRefused() throws {
        var preparing = HolderRotation(starting: Self.record())
        #expect(throws: HolderRotation.InvalidTransition.self) { try preparing.handle(.switched(.init(total: 1))) }
        #expect(throws: HolderRotation.InvalidTransition.self) { try preparing.handle(.retired(at: Self.started)) }
        var switching = HolderRotation(recorded: Self.record(new: "APKANEW"))
        // Old credentials are never retired before every cluster is verified on the new one.
        #expect(throws: HolderRotation.InvalidTransition.self) { try switching.handle(.retired(at: Self.started)) }
        #expect(switching.phase == .switching)
        var retired = Self.record(new: "APKANEW")
        retired.state = .retired
        var done = HolderRotation(recorded: retired)
        #expect(throws: HolderRotation.InvalidTransition.self) { try done.handle(.resumed) }
        #expect(
            HolderRotation.Phase.allCases.map(HolderRotation.recorded) == [
                .switching, .switching, .switching, .retired, .partial, .partial,
            ])
    }
}
