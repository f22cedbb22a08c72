// PluginLoader: finds and loads architecture plugins: dlopen(RTLD_NOW | RTLD_LOCAL) of a
// private copy of the library (a new path per load, so that a rebuilt library never replaces
// one in use in place), the one entry symbol, the ABI major check and a complete table.
// Refusals are typed and say which file and why.

import Foundation
import Locking
import PluginABI
import RevNet
#if canImport(Glibc)
import Glibc
#endif

public enum PluginError: Error, Equatable, CustomStringConvertible {
    case unreadable(String, reason: String)
    case unsafePermissions(String, reason: String)
    case dlopen(String, reason: String)
    case missingEntry(String)
    case refused(String)
    /// The plugin's and the host's ABI versions, "major.minor".
    case abiMismatch(String, plugin: String, host: String)
    case incomplete(String, missing: String)
    case badValue(String, field: String, value: Int64, bound: String)

    public var description: String {
        switch self {
        case .unreadable(let f, let r): return "\(f): cannot read the plugin: \(r)"
        case .unsafePermissions(let f, let r): return "\(f): refused: \(r)"
        case .dlopen(let f, let r): return "\(f): cannot load the plugin: \(r)"
        case .badValue(let f, let field, let value, let bound): return "\(f): refused: its \(field) is \(value), outside \(bound)"
        case .missingEntry(let f): return "\(f): not a revserve plugin: no \(REVSERVE_PLUGIN_ENTRY_SYMBOL) symbol"
        case .refused(let f): return "\(f): the plugin refused this host (ABI \(REVSERVE_PLUGIN_ABI_MAJOR).\(REVSERVE_PLUGIN_ABI_MINOR))"
        case .abiMismatch(let f, let p, let h):
            return "\(f): the plugin was built for ABI \(p), this revserve speaks ABI \(h); rebuild it against revserve_plugin.h \(h)"
        case .incomplete(let f, let m): return "\(f): the plugin table has no \(m)"
        }
    }
}

/// A loaded library: the file it came from, the private copy it was mapped from (removed as
/// soon as it was mapped), and its table.
public final class PluginLibrary: @unchecked Sendable {   // immutable after init
    public let source: String
    public let loadedFrom: String
    let handle: UnsafeMutableRawPointer
    let table: UnsafePointer<rs_plugin>

    init(source: String, loadedFrom: String, handle: UnsafeMutableRawPointer, table: UnsafePointer<rs_plugin>) {
        self.source = source
        self.loadedFrom = loadedFrom
        self.handle = handle
        self.table = table
    }

    // Never dlclose'd (revserve_plugin.h, LIFECYCLE): a Swift plugin carries its own copy of
    // the Swift runtime and worker threads parked in its code, which unmapping would pull from
    // under them. Dropping the last reference frees everything the host holds (the models'
    // handles are destroyed with their networks); the code mapping stays until exit.
}

public enum PluginLoader {
    /// Where private copies of plugin libraries are made, each removed again once mapped.
    static let copies = NSTemporaryDirectory() + copiesPrefix + "\(getpid())"
    static let copiesPrefix = "revserve-plugins-"
    private static let serial = Locked(0)

    /// Removes what processes killed in the middle of a copy left behind (nothing can clean up
    /// after SIGKILL): the copy directories of processes that no longer exist.
    static func sweepStaleCopies() {
        let tmp = NSTemporaryDirectory()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? [] where name.hasPrefix(copiesPrefix) {
            guard let pid = pid_t(name.dropFirst(copiesPrefix.count)), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? FileManager.default.removeItem(atPath: tmp + name) }
        }
    }
    /// The first load of a process sweeps.
    private static let swept: Void = sweepStaleCopies()

    /// Loads the plugin library at `path` and returns its architecture.
    public static func load(_ path: String) throws(PluginError) -> PluginArchitecture {
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { throw .unreadable(path, reason: "no such file") }
        // Code that others may rewrite would run as us.
        if st.st_mode & (S_IWOTH | S_IWGRP) != 0 { throw .unsafePermissions(path, reason: "the file is writable by its group or other users (chmod go-w)") }
        // A private copy under a fresh name: dlopen of a path it has seen returns the old
        // mapping, so a rebuilt library would never load. The copy is unlinked as soon as it is
        // mapped (the mapping keeps the file's pages), and the directory with it, so that no
        // process leaves copies behind to fill /tmp.
        _ = swept
        let (handle, copy) = try serial.withLock { n throws(PluginError) -> (UnsafeMutableRawPointer, String) in
            n += 1
            mkdir(copies, 0o700)
            defer { rmdir(copies) }
            let copy = copies + "/\(n)-" + URL(fileURLWithPath: path).lastPathComponent
            do {
                if FileManager.default.fileExists(atPath: copy) { try FileManager.default.removeItem(atPath: copy) }
                try FileManager.default.copyItem(atPath: path, toPath: copy)
            } catch {
                throw .unreadable(path, reason: error.localizedDescription)
            }
            defer { unlink(copy) }
            guard let handle = dlopen(copy, RTLD_NOW | RTLD_LOCAL) else { throw .dlopen(path, reason: String(cString: dlerror())) }
            return (handle, copy)
        }
        guard let symbol = dlsym(handle, REVSERVE_PLUGIN_ENTRY_SYMBOL) else { throw .missingEntry(path) }
        let entry = unsafeBitCast(symbol, to: rs_plugin_entry_fn.self)
        let host = (major: UInt32(REVSERVE_PLUGIN_ABI_MAJOR), minor: UInt32(REVSERVE_PLUGIN_ABI_MINOR))
        guard let table = entry(host.major, host.minor) else {
            // A plugin built for an older major declines this host: ask as its host would have,
            // so that the refusal names its version (the table is only read, never called).
            for major in stride(from: host.major - 1, through: 1, by: -1) {
                if let old = entry(major, 0) { throw .abiMismatch(path, plugin: "\(old.pointee.abi_major).\(old.pointee.abi_minor)", host: "\(host.major).\(host.minor)") }
            }
            throw .refused(path)
        }
        guard table.pointee.abi_major == host.major else {
            throw .abiMismatch(path, plugin: "\(table.pointee.abi_major).\(table.pointee.abi_minor)", host: "\(host.major).\(host.minor)")
        }
        let t = table.pointee
        let required: [(String, Bool)] = [
            ("name", t.name != nil), ("block_parameter_count", t.block_parameter_count != nil),
            ("block_parameter", t.block_parameter != nil), ("check_widths", t.check_widths != nil),
            ("block_flops", t.block_flops != nil), ("model_create", t.model_create != nil),
            ("model_destroy", t.model_destroy != nil), ("enter", t.enter != nil), ("exit", t.exit != nil),
            ("exit_gradient", t.exit_gradient != nil), ("enter_gradient", t.enter_gradient != nil),
            ("forward", t.forward != nil), ("reconstruct", t.reconstruct != nil), ("backward", t.backward != nil),
            ("tensors_count", t.tensors_count != nil), ("tensors_get", t.tensors_get != nil),
            ("tensors_free", t.tensors_free != nil), ("tape_bytes", t.tape_bytes != nil), ("tape_free", t.tape_free != nil),
        ]
        if let missing = required.first(where: { !$0.1 }) { throw .incomplete(path, missing: missing.0) }
        // Numbers the host divides by or loops over.
        guard (1...PluginArchitecture.maxTransitionGroups).contains(Int(t.transition_groups)) else {
            throw .badValue(path, field: "transition_groups", value: Int64(t.transition_groups), bound: "1…\(PluginArchitecture.maxTransitionGroups)")
        }
        guard (1...PluginArchitecture.maxFunctionsPerBlock).contains(Int(t.functions_per_block)) else {
            throw .badValue(path, field: "functions_per_block", value: Int64(t.functions_per_block), bound: "1…\(PluginArchitecture.maxFunctionsPerBlock)")
        }
        return PluginArchitecture(PluginLibrary(source: path, loadedFrom: copy, handle: handle, table: table))
    }

    /// The plugin libraries (*.so) in `directory`, sorted.
    public static func libraries(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".so") && !$0.hasPrefix(".") }.sorted().map { directory + "/" + $0 }
    }
}
