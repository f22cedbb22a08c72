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
    case abiMismatch(String, plugin: UInt32, host: UInt32)
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
        case .abiMismatch(let f, let p, let h): return "\(f): plugin ABI major version \(p), this revserve speaks \(h); rebuild the plugin against revserve_plugin.h version \(h)"
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

    // Never dlclose'd: a Swift plugin carries its own copy of the Swift runtime and worker
    // threads parked in its code, which unmapping would pull from under them. Dropping the last
    // reference frees everything the host holds; the code mapping stays until exit.
    deinit { releaseCaches() }

    /// Asks the plugin to drop what it keeps across calls (ABI 1.1's release_caches; a 1.0
    /// plugin's table ends before that field, so it is read only from 1.1 on).
    public func releaseCaches() {
        field(\.release_caches, since: 1)??()
    }

    /// rs_plugin.forward_blocks (ABI 1.1), nil for a 1.0 plugin or one without it.
    var forwardBlocks: (@convention(c) (UnsafeMutablePointer<rs_block_call>?, Int32, UnsafePointer<rs_tensor_in>?, Int32,
                                        UnsafeMutablePointer<OpaquePointer?>?, UnsafeMutablePointer<rs_error>?) -> rs_status)? {
        field(\.forward_blocks, since: 1) ?? nil
    }

    /// rs_plugin.forward_unit (ABI 1.2), nil for an older plugin or one without it.
    var forwardUnit: (@convention(c) (UnsafeMutablePointer<rs_block_call>?, Int32, UnsafePointer<rs_tensor_in>?,
                                      UnsafeMutablePointer<OpaquePointer?>?, UnsafeMutablePointer<rs_error>?) -> rs_status)? {
        field(\.forward_unit, since: 2) ?? nil
    }

    /// A field added in ABI 1.`minor`, read only from a plugin whose abi_minor says it has it
    /// (an older table ends before it).
    private func field<T>(_ field: KeyPath<rs_plugin, T>, since minor: UInt32) -> T? {
        let raw = UnsafeRawPointer(table)
        let declared = raw.load(fromByteOffset: MemoryLayout<rs_plugin>.offset(of: \rs_plugin.abi_minor)!, as: UInt32.self)
        guard declared >= minor else { return nil }
        return raw.load(fromByteOffset: MemoryLayout<rs_plugin>.offset(of: field)!, as: T.self)
    }
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
        // mapped (the mapping keeps the file's pages), and the directory with it: every
        // process that loaded plugins used to leave its copies behind, and /tmp filled up
        // (10 271 directories, 70 GB on the build machine).
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
        guard let table = entry(UInt32(REVSERVE_PLUGIN_ABI_MAJOR), UInt32(REVSERVE_PLUGIN_ABI_MINOR)) else { throw .refused(path) }
        guard table.pointee.abi_major == UInt32(REVSERVE_PLUGIN_ABI_MAJOR) else {
            throw .abiMismatch(path, plugin: table.pointee.abi_major, host: UInt32(REVSERVE_PLUGIN_ABI_MAJOR))
        }
        let t = table.pointee
        let required: [(String, Bool)] = [
            ("name", t.name != nil), ("block_parameter_count", t.block_parameter_count != nil),
            ("block_parameter", t.block_parameter != nil), ("check_widths", t.check_widths != nil),
            ("block_flops", t.block_flops != nil), ("enter", t.enter != nil), ("exit", t.exit != nil),
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
