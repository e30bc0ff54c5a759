// A TextOutputStream over standard error, for diagnostics that must not mix with a command's output.
import Foundation

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandle.standardError.write(Data(string.utf8))
    }
}
