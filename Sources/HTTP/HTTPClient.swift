// An async HTTP client on one libcurl multi handle, driven by one dedicated thread through curl's socket interface on
// epoll (see `events.h`): no thread per request, the cooperative pool never blocks, connections (and HTTP/2 streams)
// are reused, thousands of requests can be in flight. Cancelling the awaiting task aborts the transfer.
import CCurl
import FleetSupport
import Foundation
import Synchronization

/// `@unchecked Sendable`: the multi handle and its epoll set are used only by the loop thread, except
/// `fs_curl_events_wake` (an eventfd write, safe from any thread) and the cleanup after that thread has ended;
/// everything else shared is behind the mutex.
public final class HTTPClient: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var userAgent = "fleetstrap/0.1.0"
        /// Connections kept open for reuse, in the process-wide cache (requests that name an `HTTPConnectionPool`
        /// keep theirs there instead).
        public var connectionCache = 1024
        /// Parallel connections per host; more requests queue (HTTP/2 multiplexes over one).
        public var connectionsPerHost = 64
        /// Connections open at once, per cache.
        public var totalConnections = 1024
        /// Runs as each request is about to be queued for the loop (tests place a cancellation at that moment).
        var beforeQueueing: (@Sendable () -> Void)?

        public init() {}
    }

    private struct State {
        var pending: [CurlTransfer] = []
        var cancelled: Set<ObjectIdentifier> = []
        var stopping = false
        var stopped = false
    }

    private let multi: UnsafeMutableRawPointer
    /// epoll under the multi handle: curl hears about the sockets that are ready, not every transfer on each wakeup.
    private let events: UnsafeMutablePointer<fs_curl_events>
    private let state = Mutex(State())
    private let configuration: Configuration
    private let done = DispatchSemaphore(value: 0)

    /// A client for the whole process; it is never shut down.
    public static let shared = HTTPClient()

    public init(configuration: Configuration = Configuration()) {
        _ = Self.globalInit
        self.configuration = configuration
        guard let multi = curl_multi_init() else { fatalError("curl_multi_init failed: libcurl is unusable") }
        self.multi = multi
        guard let events = fs_curl_events_new(multi) else {
            fatalError("epoll or eventfd unavailable: \(String(cString: strerror(errno)))")
        }
        self.events = events
        // Never more connections than descriptors: past the open-files limit, connecting fails outright.
        let descriptors = max(64, OpenFileLimit.current - 256)
        _ = fs_curl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, min(configuration.connectionCache, descriptors))
        _ = fs_curl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, configuration.connectionsPerHost)
        _ = fs_curl_multi_setopt_long(
            multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, min(configuration.totalConnections, descriptors))
        let thread = Thread { [self] in self.run() }
        thread.name = "fleetstrap-http"
        thread.start()
    }

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// TLS sessions shared by every transfer of the process: a new connection to a server met before resumes its
    /// session. libcurl keys them by host, port and TLS settings (the trusted CAs included).
    nonisolated(unsafe) static let tlsSessions: UnsafeMutableRawPointer? = {
        _ = globalInit
        return fs_curl_share_tls_sessions()
    }()

    /// Stops the loop; transfers still in flight fail with a shutdown error. Waits for the thread to finish.
    public func shutdown() {
        let first = state.withLock { s -> Bool in
            defer { s.stopping = true }
            return !s.stopping
        }
        guard first else { return }
        fs_curl_events_wake(events)
        done.wait()
        curl_multi_cleanup(multi)
        fs_curl_events_free(events)
    }

    /// Sends the request and returns the response (any status). Throws `HTTPClientError` for transport failures
    /// and `CancellationError` when the task is cancelled.
    public func execute(_ request: HTTPRequest) async throws -> HTTPResponse {
        try Task.checkCancellation()
        guard let transfer = CurlTransfer(request: request) else {
            throw HTTPClientError.invalid(url: request.redactedURL, "curl_easy_init failed")
        }
        if let error = transfer.configure(userAgent: configuration.userAgent) { throw error }
        let id = ObjectIdentifier(transfer)
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    transfer.attach(continuation)
                    configuration.beforeQueueing?()
                    // A cancellation heard before this point left the machine cancelled: the submission answers it
                    // at once, and the transfer never runs to its timeout for want of it.
                    let action = state.withLock { s -> TransferStateMachine.Action in
                        let action = transfer.machine.withLock { $0.submit(stopping: s.stopping) }
                        if action == .queue { s.pending.append(transfer) }
                        return action
                    }
                    switch action {
                    case .queue: fs_curl_events_wake(events)
                    case .failCancelled: transfer.finish(.failure(.cancelled(url: request.redactedURL)))
                    case .failShutdown: transfer.finish(.failure(.shutdown(url: request.redactedURL)))
                    default: break
                    }
                }
            } onCancel: {
                // Queued or not yet submitted: the loop or the submission ends it. On curl: the loop aborts it.
                if transfer.machine.withLock({ $0.cancel() }) == .abort {
                    state.withLock { _ = $0.cancelled.insert(id) }
                    fs_curl_events_wake(events)
                }
            }
        } catch let error as HTTPClientError where error.isCancellation {
            throw CancellationError()
        }
    }

    // MARK: The loop (its own thread)

    private func run() {
        var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]
        while true {
            let (incoming, cancelled, stopping) = state.withLock { s in
                defer {
                    s.pending.removeAll()
                    s.cancelled.removeAll()
                }
                return (s.pending, s.cancelled, s.stopping)
            }
            for transfer in incoming {
                switch transfer.machine.withLock({ $0.dequeue() }) {
                case .start:
                    let code = curl_multi_add_handle(multi, transfer.handle)
                    guard code != CURLM_OK else {
                        active[transfer.handle] = transfer
                        continue
                    }
                    let failure = HTTPClientError.transport(
                        Int32(code.rawValue), url: transfer.request.redactedURL,
                        detail: String(cString: curl_multi_strerror(code)))
                    let action = transfer.machine.withLock { $0.complete() }
                    Self.end(transfer, action, failure: failure)
                case let action:
                    Self.end(transfer, action)
                }
            }
            if !cancelled.isEmpty {
                for (handle, transfer) in active where cancelled.contains(ObjectIdentifier(transfer)) {
                    curl_multi_remove_handle(multi, handle)
                    active[handle] = nil
                    Self.end(transfer, transfer.machine.withLock { $0.remove(shutdown: false) })
                }
            }
            if stopping {
                for (handle, transfer) in active {
                    curl_multi_remove_handle(multi, handle)
                    Self.end(transfer, transfer.machine.withLock { $0.remove(shutdown: true) })
                }
                state.withLock { s in
                    for t in s.pending { Self.end(t, t.machine.withLock { $0.remove(shutdown: true) }) }
                    s.pending.removeAll()
                    s.stopped = true
                }
                done.signal()
                return
            }

            // Sleep until a socket is ready, curl's timer is due, or a submission wakes us; curl then works on
            // what is ready.
            fs_curl_events_step(events, 1000)
            var left: Int32 = 0
            while let message = curl_multi_info_read(multi, &left) {
                guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle else { continue }
                let result = message.pointee.data.result
                curl_multi_remove_handle(multi, handle)
                guard let transfer = active.removeValue(forKey: handle) else { continue }
                switch transfer.machine.withLock({ $0.complete() }) {
                case .deliver: transfer.complete(result)
                case let action: Self.end(transfer, action)
                }
            }
        }
    }

    /// Answers the task as the machine's `action` says (`failure`: what `.deliver` stands for when curl never ran).
    private static func end(
        _ transfer: CurlTransfer, _ action: TransferStateMachine.Action, failure: HTTPClientError? = nil
    ) {
        let url = transfer.request.redactedURL
        switch action {
        case .failCancelled: transfer.finish(.failure(.cancelled(url: url)))
        case .failShutdown: transfer.finish(.failure(.shutdown(url: url)))
        case .deliver: if let failure { transfer.finish(.failure(failure)) }
        case .none, .queue, .start, .abort: break
        }
    }
}
