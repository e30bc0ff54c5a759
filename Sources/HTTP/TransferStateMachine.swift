// One transfer's life between the task awaiting it and the loop thread running it, as a state machine that answers
// each event with the action to take (as async-http-client's Transaction+StateMachine): a cancellation that arrives
// before the transfer is queued, while it waits in the queue, while curl runs it or after it ended is never lost and
// never acted on twice.
struct TransferStateMachine: Sendable, Equatable {
    enum State: Sendable, Equatable {
        /// Made and configured; not handed to the loop yet.
        case initialized
        /// In the loop's queue.
        case queued
        /// On the multi handle.
        case running
        /// Cancelled; the action that ends it is under way (or waits for the submission, or for the loop).
        case cancelled
        /// The awaiting task was answered.
        case finished
    }

    enum Action: Sendable, Equatable {
        case none
        /// Append to the loop's queue and wake it.
        case queue
        /// Add the handle to the multi handle.
        case start
        /// Tell the loop to take the handle off the multi handle and fail it as cancelled.
        case abort
        /// Answer the task with a cancellation now.
        case failCancelled
        /// Answer the task with a shutdown error now.
        case failShutdown
        /// Answer the task with curl's result.
        case deliver
    }

    private(set) var state = State.initialized

    /// The task hands the transfer to the loop (`stopping`: the client is shutting down).
    mutating func submit(stopping: Bool) -> Action {
        switch state {
        case .initialized:
            state = stopping ? .finished : .queued
            return stopping ? .failShutdown : .queue
        case .cancelled:
            // The cancel handler ran first (a task cancelled before or while it submitted): never queued.
            state = .finished
            return .failCancelled
        case .queued, .running, .finished:
            return .none
        }
    }

    /// The awaiting task was cancelled (any thread, any moment).
    mutating func cancel() -> Action {
        switch state {
        case .initialized, .queued:
            // The submission, or the loop taking it from the queue, ends it.
            state = .cancelled
            return .none
        case .running:
            state = .cancelled
            return .abort
        case .cancelled, .finished:
            return .none
        }
    }

    /// The loop takes the transfer from its queue.
    mutating func dequeue() -> Action {
        switch state {
        case .queued:
            state = .running
            return .start
        case .cancelled:
            state = .finished
            return .failCancelled
        case .initialized, .running, .finished:
            return .none
        }
    }

    /// curl finished the transfer.
    mutating func complete() -> Action {
        switch state {
        case .running:
            state = .finished
            return .deliver
        case .cancelled:
            state = .finished
            return .failCancelled
        case .initialized, .queued, .finished:
            return .none
        }
    }

    /// The loop took the handle off after an abort, or the client shut down under it.
    mutating func remove(shutdown: Bool) -> Action {
        switch state {
        case .finished:
            return .none
        case .cancelled where !shutdown:
            state = .finished
            return .failCancelled
        default:
            state = .finished
            return shutdown ? .failShutdown : .failCancelled
        }
    }
}
