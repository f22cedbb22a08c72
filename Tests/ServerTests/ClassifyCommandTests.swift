// ClassifyCommandTests: `revserve classify` as a user runs it against a real daemon: the
// text and JSON output, choosing the model, per-file errors, and an unreachable daemon.

import Foundation
import ServerTestSupport
import Testing

@Suite(.timeLimit(.minutes(2 * testSlowdownMinutes))) struct ClassifyCommandTests {
    @Test func classifiesFilesInOrderAsTextAndJSON() async throws {
        let daemon = try await DaemonProcess()
        let files = ["0000-ankle-boot.png", "0002-trouser.png", "0018-bag.png"].map { samplesDirectory.appendingPathComponent($0).path }
        let text = try revserveRun(["classify", "--socket", daemon.socket, "--model", "hamiltonian", "--top", "2"] + files)
        #expect(text.status == 0, "\(text.stderr)")
        let lines = text.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        for (line, (file, label)) in zip(lines, zip(files, ["Ankle boot", "Trouser", "Bag"])) {
            #expect(line.hasPrefix("\(file): \(label) ("), "\(line)")
            #expect(line.components(separatedBy: "), ").count == 2, "two classes: \(line)")
        }

        let json = try revserveRun(["classify", "--socket", daemon.socket, "--model", "leapfrog", "--version", "1", "--json"] + files)
        #expect(json.status == 0, "\(json.stderr)")
        let array = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(array.map { $0["file"] as? String } == files)
        #expect(array.allSatisfy { $0["model"] as? String == "leapfrog" && $0["version"] as? String == "1" })
        #expect(array.map { (($0["predictions"] as? [[String: Any]])?.first?["label"] as? String) } == ["Ankle boot", "Trouser", "Bag"])
    }

    @Test func modelChoiceAndBadFiles() async throws {
        let daemon = try await DaemonProcess()
        let png = samplesDirectory.appendingPathComponent("0013-dress.png").path
        let ambiguous = try revserveRun(["classify", "--socket", daemon.socket, png])
        #expect(ambiguous.status != 0 && ambiguous.stderr.contains("choose one with --model"), "\(ambiguous.stderr)")

        let notPNG = repositoryRoot.appendingPathComponent("README.md").path
        let mixed = try revserveRun(["classify", "--socket", daemon.socket, "--model", "midpoint", png, notPNG, "/nonexistent.png"])
        #expect(mixed.status != 0)
        #expect(mixed.stdout.contains("\(png): Dress"), "\(mixed.stdout)")
        #expect(mixed.stderr.contains("README.md: the daemon answered 400") && mixed.stderr.contains("/nonexistent.png: no such file"),
                "\(mixed.stderr)")
        let unknown = try revserveRun(["classify", "--socket", daemon.socket, "--model", "resnet", png])
        #expect(unknown.status != 0 && unknown.stderr.contains("404") && unknown.stderr.contains("unknown model 'resnet'"))
    }

    @Test func unreachableDaemonNamesTheSocket() throws {
        let png = samplesDirectory.appendingPathComponent("0013-dress.png").path
        let r = try revserveRun(["classify", "--socket", "/tmp/no-such-revserve.sock", "--model", "m", png])
        #expect(r.status != 0)
        #expect(r.stderr.contains("cannot reach the revserve daemon at /tmp/no-such-revserve.sock"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "one line: \(r.stderr)")
    }
}
