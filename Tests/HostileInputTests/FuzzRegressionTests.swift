// FuzzRegressionTests: every committed fuzz seed and every input that once crashed a decoder
// (Fuzz/corpus, Fuzz/regressions) goes through its target again, uninstrumented: a crash
// here is a regression (the test process dies).

import Foundation
import FuzzTargets
import ServerTestSupport
import Testing

@Suite struct FuzzRegressionTests {
    @Test(arguments: FuzzTarget.allCases)
    func committedInputsNeverCrash(_ target: FuzzTarget) throws {
        var count = 0
        for kind in ["corpus", "regressions"] {
            let dir = repositoryRoot.appendingPathComponent("Fuzz/\(kind)/\(target.rawValue)")
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [] where !name.hasPrefix(".") {
                target.run(Array(try Data(contentsOf: dir.appendingPathComponent(name))))
                count += 1
            }
        }
        #expect(count > 0, "no seeds for \(target.rawValue)")
    }
}
