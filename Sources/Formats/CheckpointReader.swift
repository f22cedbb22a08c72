// CheckpointReader: reads a checkpoint in a child process (`revserve read-checkpoint`) under a
// time limit and takes its contents over a pipe (CheckpointTransfer), so that a damaged file on
// which libhdf5 loops, crashes or overruns a buffer (such files: Fuzz/libhdf5/) costs a child,
// never the daemon or the tool that asked.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct CheckpointReader: Sendable {
    /// The reading command: an executable and its leading arguments; the path is appended. It
    /// writes one CheckpointTransfer message to standard output.
    public var command: [String]
    public var timeout: Duration

    public init(command: [String], timeout: Duration) {
        precondition(!command.isEmpty, "a checkpoint reader needs an executable")
        self.command = command
        self.timeout = timeout
    }

    /// This process's own executable (a `revserve` binary reads its own checkpoints).
    public static var ownExecutable: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
    }

    /// The checkpoint at `path` as the child read and validated it, or the child's reason for
    /// refusing it; a child that loops past the limit or dies is a damaged file.
    public func read(_ path: String) throws(FormatError) -> Checkpoint {
        let child = try run(path)
        guard !child.signalled else {
            throw .unreadable(file: path, reason: "reading it killed the reading process (signal \(child.status)); the file is damaged")
        }
        guard child.status == 0 else {
            let said = String(decoding: child.errors.suffix(2000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw .unreadable(file: path, reason: "the reading process \(command[0]) failed (exit \(child.status))\(said.isEmpty ? "" : ": " + said)")
        }
        switch try CheckpointTransfer.decode(child.output, file: path) {
        case .checkpoint(let checkpoint): return checkpoint
        case .refused(let error): throw error
        }
    }

    /// Runs the child, collecting both of its outputs until it exits or the time is up.
    /// The largest message a reading child may send: 2 × 2^28 float32 values and 256 MiB more.
    static let maxMessageBytes = (2 << 28) * 4 + (256 << 20)

    private func run(_ path: String) throws(FormatError) -> (status: Int32, signalled: Bool, output: [UInt8], errors: [UInt8]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst()) + [path]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw .unreadable(file: path, reason: "cannot start the reading process \(command[0]): \(error)")
        }
        // Our copies of the write ends must close, or the pipes never report end of file.
        try? out.fileHandleForWriting.close()
        try? err.fileHandleForWriting.close()
        let outFD = out.fileHandleForReading.fileDescriptor, errFD = err.fileHandleForReading.fileDescriptor
        var output: [UInt8] = [], errors: [UInt8] = []
        var open = [outFD, errFD]
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let deadline = ContinuousClock.now + timeout
        while !open.isEmpty {
            let left = deadline - ContinuousClock.now
            guard left > .zero else {
                kill(process.processIdentifier, SIGKILL)
                _ = Self.reap(process)
                throw .unreadable(file: path, reason: "reading it did not finish within \(timeout) (--checkpoint-check-timeout-ms); a damaged file can make libhdf5 loop")
            }
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ms = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
            if poll(&fds, nfds_t(fds.count), Int32(clamping: max(1, ms))) < 0 && errno != EINTR {
                let reason = String(cString: strerror(errno))
                kill(process.processIdentifier, SIGKILL)
                _ = Self.reap(process)
                throw .unreadable(file: path, reason: "cannot follow the reading process: poll failed (\(reason))")
            }
            for p in fds where p.revents != 0 {
                let n = Glibc.read(p.fd, &buffer, buffer.count)
                if n > 0 {
                    if p.fd == outFD {
                        // The child's message is the checkpoint's weights, optimiser state and
                        // history: bounded by the layout limits (2^28 parameters, twice, as
                        // float32) plus headers. A child that sends more is not reading a checkpoint.
                        guard output.count + n <= Self.maxMessageBytes else {
                            kill(process.processIdentifier, SIGKILL)
                            _ = Self.reap(process)
                            throw .unreadable(file: path, reason: "the reading process sent more than \(Self.maxMessageBytes) bytes")
                        }
                        output += buffer[0..<n]
                    } else { errors = (errors + buffer[0..<n]).suffix(1 << 16) }
                } else if n == 0 || errno != EINTR {
                    open.removeAll { $0 == p.fd }
                }
            }
        }
        let (status, signalled) = Self.reap(process)
        return (status, signalled, output, errors)
    }

    /// Waits for the child's end: its exit status, or its signal and true. Foundation's
    /// waitUntilExit can miss a child that dies at once (it then waits for ever beside a
    /// zombie), so the child is also reaped here directly, whichever notices first.
    static func reap(_ process: Process) -> (status: Int32, signalled: Bool) {
        let pid = process.processIdentifier
        while true {
            if !process.isRunning { return (process.terminationStatus, process.terminationReason == .uncaughtSignal) }
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid {
                // The wait status as <sys/wait.h> lays it out: low 7 bits the signal, else the exit code above them.
                let signal = raw & 0x7f
                return signal == 0 ? ((raw >> 8) & 0xff, false) : (signal, true)
            }
            usleep(1000)
        }
    }
}
