// Training through the bundled plugins keeps its memory flat in the number of steps: the
// plugin host once leaked every gradient buffer it lent a plugin's backward (LeakSanitizer
// found it; ~parameter size per step, 1.9 MB a step for hamiltonian-74).

import Foundation
import ServerTestSupport
import Testing

@Suite(.timeLimit(.minutes(3 * testSlowdownMinutes))) struct TrainingMemoryTests {
    /// Peak resident bytes of `revserve bench train` (plugins loaded, as by default) after `steps`.
    func peak(steps: Int) throws -> Double {
        // Wide and tiny: 3.2 MB of parameters, a step takes milliseconds.
        let r = try revserve(["bench", "train", "--arch", "hamiltonian", "--units", "2,2,2", "--channels", "64,128,256",
                                 "--input", "3,8,8", "--batch", "4", "--threads", "1", "--warmup", "1",
                                 "--repeats", "\(steps)", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        return try #require((json?["peakResidentBytes"] as? NSNumber)?.doubleValue)
    }

    @Test func pluginTrainingStepsDoNotAccumulateMemory() throws {
        let few = try peak(steps: 5), many = try peak(steps: 45)
        // A leak of the gradients would add 40 × 3.2 MB; allocator noise is a few MB.
        #expect(many - few < 24 * 1_048_576, "peak \(Int(few) >> 20) MiB after 5 steps, \(Int(many) >> 20) MiB after 45")
    }
}
