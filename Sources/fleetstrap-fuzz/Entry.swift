// Built with `-sanitize=fuzzer` (scripts/fuzz.sh, -D FUZZING), the program hands itself to libFuzzer's driver, which
// takes libFuzzer's own options. Built plainly, it replays inputs (files or folders of them) through the same targets:
// how the seed corpus and every input a fuzzer once found run in the tests.
import Foundation

/// One input, as libFuzzer calls it (its runtime also links to this name).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    FuzzTarget.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

#if FUZZING
    /// libFuzzer's entry for programs that keep their own main (SwiftPM gives every executable one).
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    @main
    struct Fuzz {
        static func main() {
            var argc = CommandLine.argc
            var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
            exit(LLVMFuzzerRunDriver(&argc, &argv) { fuzzOneInput($0, $1) })
        }
    }
#else
    @main
    struct Replay {
        static func main() {
            var count = 0
            for argument in CommandLine.arguments.dropFirst() {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
                    FileHandle.standardError.write(Data("fleetstrap-fuzz: no such file \(argument)\n".utf8))
                    exit(2)
                }
                let files =
                    isDirectory.boolValue
                    ? ((try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []).sorted().map {
                        "\(argument)/\($0)"
                    } : [argument]
                for file in files {
                    guard let data = FileManager.default.contents(atPath: file) else { continue }
                    // As found (its first byte picks the target), then its body through every other target too.
                    FuzzTarget.run(Array(data))
                    for target in FuzzTarget.allCases { FuzzTarget.run([target.rawValue] + Array(data.dropFirst())) }
                    count += 1
                }
            }
            print("replayed \(count) inputs through \(FuzzTarget.allCases.count) targets")
        }
    }
#endif
