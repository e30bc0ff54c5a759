// The transfer's state machine on its own: every order in which the task, its cancellation and the loop can meet,
// and the one action each answers with. A cancellation is never lost and never answered twice.
import Testing

@testable import HTTP

@Suite("HTTP transfer state machine")
struct TransferStateMachineTests {
    enum Event: String, CaseIterable, CustomTestStringConvertible {
        case submit, cancel, dequeue, complete, remove, shutdown, stoppingSubmit
        var testDescription: String { rawValue }
    }

    static func run(_ events: [Event]) -> [TransferStateMachine.Action] {
        var machine = TransferStateMachine()
        return events.map { event in
            switch event {
            case .submit: machine.submit(stopping: false)
            case .stoppingSubmit: machine.submit(stopping: true)
            case .cancel: machine.cancel()
            case .dequeue: machine.dequeue()
            case .complete: machine.complete()
            case .remove: machine.remove(shutdown: false)
            case .shutdown: machine.remove(shutdown: true)
            }
        }
    }

    @Test(
        "each meeting of task, cancellation and loop",
        arguments: [
            // The ordinary way: queued, started, delivered; a late cancellation changes nothing.
            ([.submit, .dequeue, .complete, .cancel], [.queue, .start, .deliver, .none]),
            // Cancelled before it was submitted (the narrow moment): answered at the submission, never queued.
            ([.cancel, .submit, .dequeue], [.none, .failCancelled, .none]),
            // Cancelled in the queue: the loop answers it instead of starting it.
            ([.submit, .cancel, .dequeue, .complete], [.queue, .none, .failCancelled, .none]),
            // Cancelled on curl: the loop aborts it, once.
            ([.submit, .dequeue, .cancel, .cancel, .remove], [.queue, .start, .abort, .none, .failCancelled]),
            // Cancelled on curl as curl finished: the completion answers it; the abort finds nothing left.
            ([.submit, .dequeue, .cancel, .complete, .remove], [.queue, .start, .abort, .failCancelled, .none]),
            // Shut down: a submission is refused, a running or queued one fails with the shutdown.
            ([.stoppingSubmit, .cancel], [.failShutdown, .none]),
            ([.submit, .dequeue, .shutdown, .complete], [.queue, .start, .failShutdown, .none]),
            ([.submit, .shutdown, .dequeue], [.queue, .failShutdown, .none]),
        ] as [([Event], [TransferStateMachine.Action])])
    func meeting(_ events: [Event], _ expected: [TransferStateMachine.Action]) {
        #expect(Self.run(events) == expected)
    }

    /// Every sequence of up to five events: at most one answer to the task, and a cancelled transfer that is
    /// answered at all is answered as cancelled or shut down, never delivered.
    @Test func noSequenceAnswersTwiceOrLosesACancellation() {
        let answers: Set<TransferStateMachine.Action> = [.failCancelled, .failShutdown, .deliver]
        var sequences: [[Event]] = [[]]
        for _ in 0..<5 { sequences = sequences.flatMap { s in Event.allCases.map { s + [$0] } } }
        for events in sequences {
            let actions = Self.run(events)
            #expect(actions.filter(answers.contains).count <= 1, "\(events)")
            if let cancel = events.firstIndex(of: .cancel), actions[cancel] == .none || actions[cancel] == .abort,
                let answer = actions.firstIndex(where: answers.contains), answer > cancel
            {
                #expect(actions[answer] != .deliver, "\(events)")
            }
        }
    }
}
