// Commands that change the fleet run holding its state (RunLock): one writer per ledger and state folder.
import Fleet
import FleetSupport
import Foundation

extension FleetOptions {
    /// Runs `body` holding the fleet state of `context`; a state another run holds is waited for up to --wait-lock,
    /// then refused (exit 3) naming the holder. The lock is given up however `body` ends.
    func holdingFleetState<T>(
        _ context: FleetContext, command: String, _ body: (RunLock) async throws -> T
    ) async throws -> T {
        guard let wait = waitLock == "0" ? .zero : DurationText.parse(waitLock) else {
            throw CommandFailure.invalidInput("--wait-lock '\(waitLock)' is not a duration (0, 30s, 10m)")
        }
        var settings = RunLock.Settings()
        settings.wait = wait
        let lock: RunLock
        do {
            lock = try await RunLock.acquire(
                ledger: context.ledger, stateDirectory: stateDir, command: command, settings: settings,
                notice: { FileHandle.standardError.write(Data("notice: \($0)\n".utf8)) })
        } catch is CancellationError {
            throw ExitStatus.interrupted
        } catch {
            throw CommandFailure.couldNotStart(describe(error))
        }
        do {
            let result = try await body(lock)
            await lock.release()
            return result
        } catch {
            await lock.release()
            throw error
        }
    }
}
