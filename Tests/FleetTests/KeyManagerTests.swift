// SSH keys and a run stopped halfway through making one: the key is kept (encrypted) before it is uploaded, so a run
// killed between IAM's answer and the key store's write adopts that key on resume instead of leaving an orphan in
// IAM and uploading another (found by the crash campaign: an identity with two keys after a resumed bootstrap).
import AWS
import Fleet
import FleetSupport
import Foundation
import Ledger
import TestSupport
import Testing

@Suite("Fleet: an SSH key made by a stopped run", .serialized)
struct KeyManagerTests {
    @Test(.enabled(if: LabFleet.sshAvailable, Comment(rawValue: LabFleet.sshReason)))
    func aKeyUploadedByARunStoppedBeforeKeepingItIsAdoptedNotMadeAgain() async throws {
        try await LabFleet.with(accounts: 1, clusters: 1) { fleet in
            let context = try await fleet.context()
            let identity = try #require(fleet.inventory.identities.first)
            let accountID = try #require(fleet.inventory.account(named: identity.account)?.id)
            let client = try fleet.fixture.client()
            let credentials = try await fleet.fixture.session(identity.account, client: client)
            let iam = IAMClient(client: client)
            func keysInIAM() async throws -> [String] {
                try await iam.listSSHPublicKeys(
                    userName: identity.iamUser, credentials: credentials, account: identity.account
                ).map(\.keyID)
            }
            func freshManager() -> KeyManager {
                KeyManager(
                    directory: "\(fleet.stateDirectory)/keys", ledger: context.ledger, environment: context.environment)
            }
            let folder = "\(fleet.stateDirectory)/keys/\(accountID)/\(identity.iamUser)"

            // Stopped after the upload, before the key store kept it: the key is in IAM, its private half only pending.
            let first = try await context.keys.key(
                for: identity, accountID: accountID, iam: iam, credentials: credentials, runID: nil)
            #expect(first.created)
            try FileManager.default.moveItem(atPath: "\(folder)/\(first.keyID).pem", toPath: "\(folder)/pending.pem")
            let adopted = try await freshManager().key(
                for: identity, accountID: accountID, iam: iam, credentials: credentials, runID: nil)
            #expect(adopted.keyID == first.keyID && adopted.fingerprint == first.fingerprint)
            #expect(try await keysInIAM() == [first.keyID], "no second key uploaded")
            #expect(FileManager.default.fileExists(atPath: "\(folder)/\(first.keyID).pem"))
            #expect(!FileManager.default.fileExists(atPath: "\(folder)/pending.pem"))

            // Stopped before the upload: the pending key is the one uploaded (none made in its place).
            try FileManager.default.moveItem(atPath: "\(folder)/\(first.keyID).pem", toPath: "\(folder)/pending.pem")
            try await iam.deleteSSHPublicKey(
                userName: identity.iamUser, keyID: first.keyID, credentials: credentials, account: identity.account)
            let uploaded = try await freshManager().key(
                for: identity, accountID: accountID, iam: iam, credentials: credentials, runID: nil)
            #expect(uploaded.created && uploaded.fingerprint == first.fingerprint && uploaded.keyID != first.keyID)
            #expect(try await keysInIAM() == [uploaded.keyID])
            let mode =
                try FileManager.default.attributesOfItem(atPath: "\(folder)/\(uploaded.keyID).pem")[.posixPermissions]
                as? Int
            #expect(mode == 0o600)
        }
    }
}
