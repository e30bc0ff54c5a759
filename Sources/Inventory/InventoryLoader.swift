// Reading inventory files from disk: bytes → YAML nodes → drafts (following includes) → a resolved Inventory.
import Foundation
import Yams

/// The outcome of reading an inventory: the inventory when it has no errors, and every diagnostic found.
public struct ValidationResult: Sendable {
    public let inventory: Inventory?
    public let diagnostics: [Diagnostic]

    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
    public var warnings: [Diagnostic] { diagnostics.filter { $0.severity == .warning } }
    public var isValid: Bool { inventory != nil }
}

public enum InventoryLoader {
    /// Files larger than this are refused before parsing (a 10,000-cluster inventory is about 2 MB).
    public static let maximumFileSize = 32 << 20
    /// Flow collections nested deeper than this are refused before parsing, to keep the parser's recursion bounded.
    public static let maximumNesting = 256

    /// Reads and checks the inventory at `path`, and the files it includes, reporting every problem.
    public static func validate(path: String) -> ValidationResult {
        let collector = DiagnosticCollector()
        var draft = InventoryDraft()
        var visiting: [String] = []
        read(
            path: path, displayPath: path, isRoot: true, includedFrom: nil, into: &draft, visiting: &visiting,
            collector: collector)
        guard collector.diagnostics.allSatisfy({ $0.severity != .error }) || !draft.files.isEmpty else {
            return ValidationResult(inventory: nil, diagnostics: collector.diagnostics)
        }
        let inventory = InventoryResolver(draft: draft, collector: collector).resolve()
        let diagnostics = collector.diagnostics.sorted { $0.location < $1.location }
        let valid = diagnostics.allSatisfy { $0.severity != .error }
        return ValidationResult(inventory: valid ? inventory : nil, diagnostics: diagnostics)
    }

    /// Reads the inventory; throws `InventoryError` with every diagnostic when it has errors.
    public static func load(path: String) throws(InventoryError) -> Inventory {
        let result = validate(path: path)
        guard let inventory = result.inventory else { throw InventoryError(diagnostics: result.diagnostics) }
        return inventory
    }

    /// Checks YAML text that did not come from a file (tests, fuzzing, stdin), named `name` in diagnostics.
    public static func validate(yaml: String, name: String = "<inventory>") -> ValidationResult {
        let collector = DiagnosticCollector()
        var draft = InventoryDraft(files: [name])
        if let root = compose(Array(yaml.utf8), file: name, collector: collector) {
            let source = SourceFile(path: name, collector: collector)
            let includes = InventoryParser(source: source, isRoot: true).parse(root, into: &draft)
            for include in includes {
                collector.error("include", at: include.location, "include is not supported for inline inventories")
            }
        }
        let inventory = InventoryResolver(draft: draft, collector: collector).resolve()
        let diagnostics = collector.diagnostics.sorted { $0.location < $1.location }
        let valid = diagnostics.allSatisfy { $0.severity != .error }
        return ValidationResult(inventory: valid ? inventory : nil, diagnostics: diagnostics)
    }

    // MARK: Files

    private static func read(
        path: String, displayPath: String, isRoot: Bool, includedFrom: SourceLocation?,
        into draft: inout InventoryDraft,
        visiting: inout [String], collector: DiagnosticCollector
    ) {
        let canonical = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        let at = includedFrom ?? SourceLocation(file: displayPath, line: 1, column: 1)
        if visiting.contains(canonical) {
            collector.error(
                "include-cycle", at: at, "'\(displayPath)' includes itself (directly or through other files)")
            return
        }
        if draft.files.contains(displayPath) {
            collector.error("include", at: at, "'\(displayPath)' is included twice")
            return
        }
        guard let bytes = readFile(path: path, displayPath: displayPath, at: at, collector: collector) else { return }
        draft.files.append(displayPath)
        guard let root = compose(bytes, file: displayPath, collector: collector) else { return }
        visiting.append(canonical)
        defer { visiting.removeLast() }
        let source = SourceFile(path: displayPath, collector: collector)
        let includes = InventoryParser(source: source, isRoot: isRoot).parse(root, into: &draft)
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        for include in includes {
            let target =
                include.value.hasPrefix("/")
                ? include.value : directory.appendingPathComponent(include.value).path
            let shown =
                include.value.hasPrefix("/")
                ? include.value
                : (displayPath.contains("/") ? (displayPath as NSString).deletingLastPathComponent + "/" : "")
                    + include.value
            read(
                path: target, displayPath: shown, isRoot: false, includedFrom: include.location, into: &draft,
                visiting: &visiting, collector: collector)
        }
    }

    private static func readFile(
        path: String, displayPath: String, at: SourceLocation, collector: DiagnosticCollector
    ) -> [UInt8]? {
        var status = stat()
        guard stat(path, &status) == 0 else {
            let reason =
                switch errno {
                case ENOENT: "no such file"
                case ELOOP: "its symbolic links form a loop"
                case EACCES: "permission denied"
                default: String(cString: strerror(errno))
                }
            collector.error("file", at: at, "cannot read '\(displayPath)': \(reason)")
            return nil
        }
        switch status.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR:
            collector.error("file", at: at, "cannot read '\(displayPath)': it is a directory")
            return nil
        default:
            // A FIFO or a device would block or never end: an inventory is a file.
            let kind = status.st_mode & S_IFMT == S_IFIFO ? "a pipe (FIFO)" : "not a regular file"
            collector.error(
                "file", at: at, "cannot read '\(displayPath)': it is \(kind)",
                hint: "write the inventory to a file and pass that file")
            return nil
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            collector.error("file", at: at, "cannot read '\(displayPath)': permission denied")
            return nil
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maximumFileSize + 1)) ?? Data()
        guard data.count <= maximumFileSize else {
            collector.error(
                "file-size", at: at, "'\(displayPath)' is larger than \(maximumFileSize >> 20) MiB",
                hint: "split the fleet into files joined with include:")
            return nil
        }
        return Array(data)
    }

    /// Bytes → the root node, or nil with a positioned diagnostic (encoding, nesting, syntax, duplicate keys).
    static func compose(_ bytes: [UInt8], file: String, collector: DiagnosticCollector) -> Node? {
        let source = SourceFile(path: file, collector: collector)
        // A UTF-8 byte order mark (editors on Windows write one) is not part of the YAML.
        let bytes = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(bytes.dropFirst(3)) : bytes
        if let offset = firstInvalidUTF8(bytes) {
            let (line, column) = position(ofByte: offset, in: bytes)
            collector.error(
                "encoding", at: SourceLocation(file: file, line: line, column: column),
                """
                the file is not valid UTF-8 (byte 0x\(String(bytes[offset], radix: 16, uppercase: true)) at offset \
                \(offset))
                """,
                hint: "save the inventory as UTF-8")
            return nil
        }
        if let (line, column) = tooDeep(bytes) {
            collector.error(
                "nesting", at: SourceLocation(file: file, line: line, column: column),
                "collections are nested deeper than \(maximumNesting) levels")
            return nil
        }
        let text = String(decoding: bytes, as: UTF8.self)
        do {
            guard let node = try Yams.compose(yaml: text) else {
                collector.error("empty", at: SourceLocation(file: file, line: 1, column: 1), "the file is empty")
                return nil
            }
            return node
        } catch let error as YamlError {
            switch error {
            case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
                .composer(let context, let problem, let mark, _):
                collector.error(
                    "yaml-syntax", at: source.location(mark),
                    "YAML syntax: \(problem)"
                        + (context.map { " (\($0.text) at \($0.mark))" } ?? ""),
                    hint: line(mark.line, of: bytes).contains(UInt8(ascii: "\t"))
                        ? "indent with spaces; YAML does not allow tabs for indentation" : nil)
            case .reader(let problem, let offset, _, _):
                let (line, column) = position(ofByte: offset ?? 0, in: bytes)
                collector.error(
                    "yaml-syntax", at: SourceLocation(file: file, line: line, column: column), "YAML: \(problem)")
            case .duplicatedKeysInMapping(let duplicates, let context):
                collector.error(
                    "duplicate-key", at: source.location(context.mark),
                    """
                    duplicate key\(duplicates.count == 1 ? "" : "s") \
                    \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) in one mapping
                    """,
                    hint: "each key may appear once; the later value would silently win in other tools")
            default:
                collector.error("yaml-syntax", at: SourceLocation(file: file, line: 1, column: 1), "YAML: \(error)")
            }
            return nil
        } catch {
            collector.error("yaml-syntax", at: SourceLocation(file: file, line: 1, column: 1), "YAML: \(error)")
            return nil
        }
    }

    private static func line(_ number: Int, of bytes: [UInt8]) -> ArraySlice<UInt8> {
        bytes.split(separator: UInt8(ascii: "\n"), maxSplits: number, omittingEmptySubsequences: false)
            .dropFirst(number - 1).first ?? []
    }

    private static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    private static func position(ofByte offset: Int, in bytes: [UInt8]) -> (Int, Int) {
        var line = 1
        var lineStart = 0
        for i in 0..<min(offset, bytes.count) where bytes[i] == UInt8(ascii: "\n") {
            line += 1
            lineStart = i + 1
        }
        let column =
            String(decoding: bytes[lineStart..<min(offset, bytes.count)], as: UTF8.self).unicodeScalars.count + 1
        return (line, column)
    }

    /// The position where collections nest deeper than allowed: flow collections (`[`, `{`) and compact block
    /// sequences (`- - - x`), ignoring quoted text and comments. Indentation alone cannot nest deeply within the
    /// size limit.
    private static func tooDeep(_ bytes: [UInt8]) -> (Int, Int)? {
        var depth = 0
        var line = 1
        var column = 0
        var quote: UInt8?
        var comment = false
        var lineStart = true
        var dashes = 0
        var previous: UInt8 = UInt8(ascii: " ")
        for b in bytes {
            column += (b & 0xC0) == 0x80 ? 0 : 1
            defer { previous = b }
            if b == UInt8(ascii: "\n") {
                line += 1
                column = 0
                comment = false
                lineStart = true
                dashes = 0
                continue
            }
            if lineStart, depth == 0, quote == nil {
                if b == UInt8(ascii: "-") {
                    dashes += 1
                    if dashes > maximumNesting { return (line, column) }
                    continue
                }
                if b != UInt8(ascii: " ") { lineStart = false }
            }
            if comment { continue }
            if let q = quote {
                if b == q { quote = nil }
                continue
            }
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                if depth > 0 || previous == UInt8(ascii: " ") || previous == UInt8(ascii: ":") { quote = b }
            case UInt8(ascii: "#") where previous == UInt8(ascii: " ") || column == 1:
                comment = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth > maximumNesting { return (line, column) }
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth = max(0, depth - 1)
            default:
                break
            }
        }
        return nil
    }
}
