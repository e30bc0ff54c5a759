// A TCP socket on 127.0.0.1 that listens and never accepts: connections complete in the kernel's backlog and no
// answer ever comes. Not close-on-exec, as NIO's listening sockets are. Closed when the value goes.
import Foundation

public final class SilentListener: Sendable {
    public let descriptor: Int32
    public let port: UInt16

    public init(backlog: Int32 = 64) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ready = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, backlog) == 0
                    && getsockname(listener, $0, &length) == 0
            }
        }
        guard ready else {
            let code = errno
            close(listener)
            throw POSIXError(.init(rawValue: code) ?? .EIO)
        }
        descriptor = listener
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit { close(descriptor) }
}
