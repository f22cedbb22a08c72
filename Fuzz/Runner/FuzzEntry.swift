// revserve-fuzz: libFuzzer's entry point over the FuzzTargets, the one chosen by
// $REVSERVE_FUZZ_TARGET (png, infer, multipart, checkpoint). Built by `make fuzz` with
// -sanitize=fuzzer,address and -DFUZZING; a normal build gets a replay tool instead:
// `revserve-fuzz TARGET FILE...` runs the files through the target.

import Foundation
import FuzzTargets
#if canImport(Glibc)
import Glibc
#endif

func complain(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

#if FUZZING
nonisolated(unsafe) let selected: FuzzTarget = {
    guard let name = getenv("REVSERVE_FUZZ_TARGET").map({ String(cString: $0) }), let t = FuzzTarget(rawValue: name) else {
        complain("set REVSERVE_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
        exit(2)
    }
    return t
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    selected.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

// SwiftPM links an executable's entry point as `<module>_main`; libFuzzer's driver is
// started from it explicitly (its own `main` is not the one the link uses).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("revserve_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc, arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzzOneInput)
}
#else
@main
struct Replay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
            complain("usage: revserve-fuzz png|infer|multipart|checkpoint FILE...")
            exit(2)
        }
        for file in arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: file) else { complain("\(file): cannot read"); exit(1) }
            target.run(Array(data))
            print("\(file): ok")
        }
    }
}
#endif
