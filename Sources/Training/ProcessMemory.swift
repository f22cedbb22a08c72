// ProcessMemory: this process's resident memory, current and peak, read from /proc (Linux).

#if canImport(Glibc)
import Glibc
#endif

public enum ProcessMemory {
    /// Peak resident set size (VmHWM) in bytes, or nil where /proc is unavailable.
    public static var peakResidentBytes: Int? { statusField("VmHWM:") }
    /// Current resident set size (VmRSS) in bytes, or nil.
    public static var residentBytes: Int? { statusField("VmRSS:") }

    private static func statusField(_ field: String) -> Int? {
        #if canImport(Glibc)
        guard let file = fopen("/proc/self/status", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard text.hasPrefix(field) else { continue }
            let kilobytes = text.dropFirst(field.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
            return kilobytes.map { $0 * 1024 }
        }
        #endif
        return nil
    }
}
