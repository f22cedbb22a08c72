// RepositoryWatcher: notices changes in the repository directory (and the plugin directory)
// and asks for a reconciliation: inotify on the repository, model and version directories (a rename that
// publishes a version, a replaced checkpoint, an edited config.json), with a periodic rescan
// as the fallback where inotify is unavailable or misses something (network file systems).

import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public final class RepositoryWatcher: Sendable {
    private let directory: String
    private let others: [String]
    private let pollInterval: Duration
    private let onChange: @Sendable () async -> Void
    private let descriptor: Int32
    private let stopped = Atomic<Bool>(false)

    /// Watches the repository tree at `directory` and the flat directories `others` (plugins);
    /// `onChange` runs after changes and every `pollInterval` (the bound on how late a change
    /// is noticed without inotify).
    public init(directory: String, others: [String] = [], pollInterval: Duration, onChange: @escaping @Sendable () async -> Void) {
        self.directory = directory
        self.others = others
        self.pollInterval = pollInterval
        self.onChange = onChange
        descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// Whether changes are pushed by inotify (else only the periodic rescan sees them).
    public var usesInotify: Bool { descriptor >= 0 }

    /// Reconciles on every change and every poll interval until the task is cancelled.
    public func run() async {
        let (events, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        if descriptor >= 0 { startEventThread(continuation) }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: pollInterval)
                continuation.yield()
            }
        }
        defer {
            ticker.cancel()
            stopped.store(true, ordering: .relaxed)
            continuation.finish()
        }
        await withTaskCancellationHandler {
            updateWatches()
            for await _ in events {
                // Let a burst of events (a copy, a rename) settle into one pass.
                try? await Task.sleep(for: .milliseconds(50))
                await onChange()
                updateWatches()
            }
        } onCancel: {
            continuation.finish()
        }
    }

    /// Watches the repository, each model directory and each version directory (adding a
    /// watch twice is harmless; removed directories drop theirs).
    private func updateWatches() {
        guard descriptor >= 0 else { return }
        let mask = UInt32(IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF)
        _ = inotify_add_watch(descriptor, directory, mask)
        for other in others { _ = inotify_add_watch(descriptor, other, mask) }
        let fm = FileManager.default
        for model in (try? fm.contentsOfDirectory(atPath: directory)) ?? [] where !model.hasPrefix(".") {
            let modelDir = directory + "/" + model
            _ = inotify_add_watch(descriptor, modelDir, mask | UInt32(IN_ONLYDIR))
            for version in (try? fm.contentsOfDirectory(atPath: modelDir)) ?? [] where Int(version) != nil {
                _ = inotify_add_watch(descriptor, modelDir + "/" + version, mask | UInt32(IN_ONLYDIR))
            }
        }
    }

    /// A thread that waits on the inotify descriptor and turns events into wake-ups.
    private func startEventThread(_ continuation: AsyncStream<Void>.Continuation) {
        let fd = descriptor
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 16384)
            while !self.stopped.load(ordering: .relaxed) {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, 250) > 0 else { continue }
                var any = false
                while read(fd, &buffer, buffer.count) > 0 { any = true }
                if any { continuation.yield() }
            }
        }
        thread.name = "revserve-watch"
        thread.start()
    }
}
