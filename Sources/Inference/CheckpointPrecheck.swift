// CheckpointPrecheck: reads a checkpoint in a child process (`revserve inspect`) under a time
// limit before the daemon reads it in-process, so that a damaged file on which libhdf5 loops
// (found by the checkpoint fuzzer: Fuzz/hangs/) or crashes costs a child, not the loading thread.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct CheckpointPrecheck: Sendable {
    /// The revserve executable (its `inspect` reads every dataset and attribute).
    public var executable: String
    public var timeout: Duration

    public init(executable: String, timeout: Duration) {
        self.executable = executable
        self.timeout = timeout
    }

    /// Throws if reading `path` does not finish in time or kills the reader. A file the reader
    /// refuses passes: the in-process load then reports exactly what is wrong with it.
    public func check(_ path: String) throws(ModelLoadError) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["inspect", path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch {
            throw .checkpoint("\(path): cannot start the checkpoint check with \(executable): \(error)")
        }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { usleep(5_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw .checkpoint("\(path): reading it did not finish within \(timeout) (--checkpoint-check-timeout-ms); the file is damaged in a way that makes libhdf5 loop")
        }
        if process.terminationReason == .uncaughtSignal {
            throw .checkpoint("\(path): reading it killed the checking process (signal \(process.terminationStatus)); the file is damaged")
        }
    }
}
