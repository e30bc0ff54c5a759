// Writes a report's formats into a folder (`reports/<run-id>/` by default), each file replaced whole.
import Foundation

public enum ReportWriter {
    /// Writes `formats` into `directory` (made if missing); returns the paths written.
    @discardableResult
    public static func write(_ report: RunReport, formats: [ReportFormat], to directory: String) throws -> [String] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var written: [String] = []
        for format in formats {
            let data: Data =
                switch format {
                case .json: try report.json() + Data("\n".utf8)
                case .junit: Data(report.junit().utf8)
                case .md: Data(report.markdown().utf8)
                case .html: Data(try report.html().utf8)
                }
            let path = (directory as NSString).appendingPathComponent(format.fileName)
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
            written.append(path)
        }
        return written
    }
}
