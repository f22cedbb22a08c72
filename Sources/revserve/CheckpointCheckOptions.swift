// CheckpointCheckOptions: every command that reads checkpoints reads them in a child process
// (`revserve read-checkpoint`) under a time limit, so that a file that makes libhdf5 loop or
// crash cannot hang or take down revserve (shared option group; docs/SECURITY.md).

import ArgumentParser
import Foundation
import Formats
#if canImport(Glibc)
import Glibc
#endif
import Training
import NetworkCheckpoint

struct CheckpointCheckOptions: ParsableArguments {
    @Option(help: "Checkpoints are read by a child process that must finish within this many milliseconds, so that a damaged file on which the HDF5 library loops or crashes cannot hang or crash revserve; 0 reads them in this process.")
    var checkpointCheckTimeoutMs = 30_000

    func validate() throws {
        try requireBound("--checkpoint-check-timeout-ms", checkpointCheckTimeoutMs, FlagBounds.checkpointCheckTimeoutMilliseconds)
    }

    /// The child: this executable's `read-checkpoint` with the same plugins as this process, so
    /// that it reads exactly what an in-process load would. Nil when turned off.
    func reader(plugins: PluginOptions?) -> CheckpointReader? {
        guard checkpointCheckTimeoutMs > 0 else { return nil }
        let pluginArguments = plugins?.directory.map { ["--plugins", $0] } ?? ["--no-plugins"]
        return CheckpointReader(command: [CheckpointReader.ownExecutable, ReadCheckpoint.name] + pluginArguments,
                                timeout: .milliseconds(checkpointCheckTimeoutMs))
    }

    /// The load of the in-process tools (built-in architectures).
    func load(_ path: String) throws -> LoadedModel {
        try ModelCheckpoint.load(path, reader: reader(plugins: nil))
    }
}

/// `revserve read-checkpoint` (not listed in help): reads and validates a checkpoint in this
/// process and writes it, or the reason it is refused, to standard output as one
/// CheckpointTransfer message; the child of every other command's checkpoint reads.
struct ReadCheckpoint: ParsableCommand {
    static let name = "read-checkpoint"
    /// Address space beyond the file's share: the Swift runtime, libraries and plugins, with
    /// room to spare.
    static let baseAddressSpace = 1 << 30

    /// True in a build with AddressSanitizer or ThreadSanitizer (`make test-sanitize`).
    static var sanitized: Bool {
        let everywhere = UnsafeMutableRawPointer(bitPattern: 0)   // RTLD_DEFAULT
        return dlsym(everywhere, "__asan_init") != nil || dlsym(everywhere, "__tsan_init") != nil
    }
    static let configuration = CommandConfiguration(
        commandName: name, abstract: "Read a checkpoint and write its contents for the parent process.",
        shouldDisplay: false)

    @OptionGroup var plugins: PluginOptions

    @Argument(help: "The checkpoint (.h5).")
    var checkpoint: String

    func run() throws {
        // A damaged file can make libhdf5 allocate without bound (Fuzz/libhdf5/'s oom-* inputs):
        // cap the address space at what the file can need (its contents a few times over, plus
        // the runtime's share), so such a file fails here at once.
        // (Not under a sanitizer, whose shadow memory is terabytes of address space.)
        var info = stat()
        if !Self.sanitized, stat(checkpoint, &info) == 0 {
            // Saturating: a sparse file can claim a size whose 8-fold passes 2^64.
            let (scaled, overflow) = rlim_t(max(0, info.st_size)).multipliedReportingOverflow(by: 8)
            let cap = overflow ? rlim_t.max : rlim_t(Self.baseAddressSpace).addingReportingOverflow(scaled).overflow ? rlim_t.max : rlim_t(Self.baseAddressSpace) + scaled
            var limit = rlimit(rlim_cur: cap, rlim_max: cap)
            _ = setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit)
        }
        plugins.register()
        let message: CheckpointTransfer.Message
        // The file as CheckpointFile validates it; the parent builds the network.
        do { message = .checkpoint(try CheckpointFile.read(checkpoint, layout: ModelCheckpoint.layout)) } catch { message = .refused(error) }
        FileHandle.standardOutput.write(Data(CheckpointTransfer.encode(message)))
    }
}
