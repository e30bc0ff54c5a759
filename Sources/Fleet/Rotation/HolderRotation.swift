// One holder's rotation as a state machine, the ledger's rotation record its memory:
//
//   preparing --made--> switching --switched--> verified --retired--> retired
//                          ^   |                    |
//                          |   +--> partial <-------+ (the old credentials could not be retired)
//                          |   +--> rolledBack        (no cluster switched: every one back on its old credential)
//                          +--resumed-- partial | rolledBack | switching
//
// Preparing is recorded before the new credential is made (a run killed then adopts it); until retired, the old
// credentials stay Active, so no cluster is ever without a working one. Pure: the run makes the calls, the machine
// says where the holder stands and what the ledger records.
import Foundation
import Ledger

struct HolderRotation: Sendable, Equatable {
    enum Phase: String, Sendable, CaseIterable {
        case preparing, switching, verified, retired, partial, rolledBack
    }

    /// The holder's clusters after the waves.
    struct Switched: Sendable, Equatable {
        /// Clusters of the run not switched (failed and rolled back, not started, interrupted).
        var notSwitched: [String] = []
        /// Clusters of the run.
        var total: Int
        /// Clusters of the holder outside the run still on another credential.
        var outside: [String] = []
        /// The run was stopped before the holder's clusters were all tried.
        var interrupted = false
        /// "SSH key" or "HTTPS Git credential", for the record's detail.
        var what = "SSH key"
    }

    enum Event: Sendable, Equatable {
        /// IAM took the new credential.
        case made(credentialID: String, fingerprint: String?)
        /// A later run continues the rotation with the same new credential.
        case resumed
        case switched(Switched)
        /// The old credentials are Inactive (or deleted).
        case retired(at: Date)
        case retireFailed(String)
    }

    struct InvalidTransition: Error, CustomStringConvertible {
        let phase: Phase
        let event: Event
        var description: String { "a rotation \(phase.rawValue) cannot take \(event)" }
    }

    private(set) var phase: Phase
    /// What the ledger holds of it: written after each transition.
    private(set) var record: RotationRecord

    /// A new rotation of `record`'s holder (its old credentials listed, no new one yet).
    init(starting record: RotationRecord) {
        self.record = record
        self.record.state = .switching
        self.phase = .preparing
    }

    /// The rotation as the ledger left it.
    init(recorded record: RotationRecord) {
        self.record = record
        switch record.state {
        case .retired: phase = .retired
        case .partial: phase = .partial
        case .switching: phase = record.newKeyId.isEmpty ? .preparing : .switching
        }
    }

    /// Moves to the next phase; the record follows. Throws for an event the phase cannot take.
    mutating func handle(_ event: Event) throws(InvalidTransition) {
        switch (phase, event) {
        case (.preparing, .made(let id, let fingerprint)):
            record.newKeyId = id
            record.newFingerprint = fingerprint
            // The new credential is never an old one: a run killed after IAM took its key but before the key store
            // had it listed that key among the Active ones, and the key made now is that same key, adopted.
            record.oldKeyIds = record.oldKeys.filter { $0 != id }.joined(separator: ",")
            phase = .switching
        case (.switching, .resumed), (.partial, .resumed), (.rolledBack, .resumed):
            phase = .switching
        case (.switching, .switched(let clusters)):
            if clusters.notSwitched.isEmpty && clusters.outside.isEmpty && !clusters.interrupted {
                phase = .verified
                record.detail = nil
            } else {
                let noneSwitched = clusters.notSwitched.count == clusters.total && clusters.total > 0
                phase = noneSwitched && clusters.outside.isEmpty && !clusters.interrupted ? .rolledBack : .partial
                record.detail = Self.reasons(clusters)
            }
        case (.verified, .retired(let at)):
            phase = .retired
            record.endedAt = at
            record.detail = nil
        case (.verified, .retireFailed(let why)):
            phase = .partial
            record.detail = why
        default:
            throw InvalidTransition(phase: phase, event: event)
        }
        record.state = Self.recorded(phase)
    }

    /// The ledger's state for a phase: anything short of retired is unfinished, and continued by a later run.
    static func recorded(_ phase: Phase) -> RotationRecord.State {
        switch phase {
        case .preparing, .switching, .verified: .switching
        case .retired: .retired
        case .partial, .rolledBack: .partial
        }
    }

    /// How the run reports the holder.
    var outcome: IdentityOutcome.State { phase == .retired ? .rotated : .partial }

    private static func reasons(_ clusters: Switched) -> String {
        var reasons: [String] = []
        let notSwitched = clusters.notSwitched
        if !notSwitched.isEmpty {
            let named = notSwitched.prefix(5).joined(separator: ", ") + (notSwitched.count > 5 ? ", …" : "")
            reasons.append("\(notSwitched.count) of \(clusters.total) clusters not switched (\(named))")
        }
        if !clusters.outside.isEmpty {
            reasons.append(
                "\(clusters.outside.count) clusters outside this run still use another \(clusters.what) "
                    + "(\(clusters.outside.prefix(5).joined(separator: ", ")))")
        }
        if reasons.isEmpty { reasons.append("interrupted") }
        return reasons.joined(separator: "; ")
    }
}
