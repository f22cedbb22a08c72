// HDF5File: the small part of libhdf5's C API that checkpoints need, behind a safe Swift type:
// float32 datasets of any shape, string datasets, and int / float / string attributes on groups,
// with paths like "weights/units/0/blocks/3/K1". Every call holds one process-wide lock: the
// Debian libhdf5 is built without thread safety. Errors name the file and the HDF5 path.

import CHDF5
import CShims
import Locking
import Tensor

/// An attribute value as docs/spec/CHECKPOINT.md uses them.
public enum AttributeValue: Sendable, Equatable, Codable {
    case int(Int)
    case ints([Int])
    case float(Float)
    case floats([Float])
    case string(String)
}

final class HDF5File {
    let path: String
    private let id: hid_t
    private var closed = false

    /// Serialises every libhdf5 call in the process.
    static let lock = Locked<Void>(())

    private init(path: String, id: hid_t) {
        self.path = path
        self.id = id
    }

    deinit { close() }

    /// Flushes and closes the file; later calls do nothing. Returns false if libhdf5 reported a
    /// failure (a full disk shows up here).
    @discardableResult
    func close() -> Bool {
        HDF5File.lock.withLock { _ in
            guard !closed else { return true }
            closed = true
            let flushed = H5Fflush(id, H5F_SCOPE_GLOBAL) >= 0
            return H5Fclose(id) >= 0 && flushed
        }
    }

    /// Runs `body` holding the HDF5 lock.
    static func locked<T>(_ body: () throws(FormatError) -> T) throws(FormatError) -> T {
        return try lock.withLock { _ throws(FormatError) -> T in
            // libhdf5's automatic error printing is per thread (the library may be built
            // thread-safe), and callers come from any thread: silence it on this one. Every
            // failure is reported through FormatError instead.
            rs_h5_silence_errors()
            return try body()
        }
    }

    /// Creates (truncates) a file for writing.
    static func create(_ path: String) throws(FormatError) -> HDF5File {
        try locked { () throws(FormatError) -> HDF5File in
            let id = H5Fcreate(path, rs_h5f_acc_trunc(), rs_h5p_default(), rs_h5p_default())
            guard id >= 0 else { throw .writeFailed(file: path, reason: "libhdf5 could not create the file") }
            return HDF5File(path: path, id: id)
        }
    }

    /// Opens an existing file read-only.
    static func open(_ path: String) throws(FormatError) -> HDF5File {
        try locked { () throws(FormatError) -> HDF5File in
            guard H5Fis_hdf5(path) > 0 else {
                throw .unreadable(file: path, reason: "not an HDF5 file")
            }
            let id = H5Fopen(path, rs_h5f_acc_rdonly(), rs_h5p_default())
            guard id >= 0 else { throw .unreadable(file: path, reason: "libhdf5 could not open it") }
            return HDF5File(path: path, id: id)
        }
    }

    func fail(_ path: String, _ problem: String) -> FormatError {
        .checkpoint(file: self.path, path: path.hasPrefix("/") ? path : "/" + path, problem: problem)
    }

    // MARK: structure

    /// True when every component of `path` exists (a group or dataset).
    func exists(_ path: String) -> Bool {
        HDF5File.lock.withLock { _ in
            var prefix = ""
            for part in path.split(separator: "/") {
                prefix += (prefix.isEmpty ? "" : "/") + part
                guard H5Lexists(id, prefix, rs_h5p_default()) > 0 else { return false }
            }
            return true
        }
    }

    /// Creates group `path` and any missing parents.
    func createGroup(_ path: String) throws(FormatError) {
        try HDF5File.locked { () throws(FormatError) in
            let lcpl = intermediateGroups()
            defer { H5Pclose(lcpl) }
            let g = H5Gcreate2(id, path, lcpl, rs_h5p_default(), rs_h5p_default())
            guard g >= 0 else { throw .writeFailed(file: self.path, reason: "cannot create group /\(path)") }
            H5Gclose(g)
        }
    }

    private func intermediateGroups() -> hid_t {
        let lcpl = H5Pcreate(rs_h5p_link_create())
        H5Pset_create_intermediate_group(lcpl, 1)
        return lcpl
    }

    /// Names of the members of group `path` ("" for the root), in name order.
    func members(_ path: String) -> [String] {
        HDF5File.lock.withLock { _ in
            var names: [String] = []
            var buffer = [CChar](repeating: 0, count: 1024)
            while H5Lget_name_by_idx(id, path.isEmpty ? "/" : path, H5_INDEX_NAME, H5_ITER_INC, hsize_t(names.count),
                                     &buffer, buffer.count, rs_h5p_default()) >= 0 {
                names.append(String(cString: buffer))
            }
            return names
        }
    }

    /// Names of the attributes of the object at `path`, in name order.
    func attributeNames(_ path: String) -> [String] {
        HDF5File.lock.withLock { _ in
            var names: [String] = []
            var buffer = [CChar](repeating: 0, count: 1024)
            while H5Aget_name_by_idx(id, path.isEmpty ? "/" : path, H5_INDEX_NAME, H5_ITER_INC, hsize_t(names.count),
                                     &buffer, buffer.count, rs_h5p_default()) >= 0 {
                names.append(String(cString: buffer))
            }
            return names
        }
    }

    // MARK: float datasets

    /// Writes a little-endian float32 dataset of `shape` at `path`, creating parent groups.
    func writeFloats(_ path: String, shape: [Int], _ values: [Float]) throws(FormatError) {
        try HDF5File.locked { () throws(FormatError) in
            var dims = shape.map { hsize_t($0) }
            let space = H5Screate_simple(Int32(dims.count), &dims, nil)
            let lcpl = intermediateGroups()
            defer { H5Sclose(space); H5Pclose(lcpl) }
            let set = H5Dcreate2(id, path, rs_h5t_ieee_f32le(), space, lcpl, rs_h5p_default(), rs_h5p_default())
            guard set >= 0 else { throw .writeFailed(file: self.path, reason: "cannot create dataset /\(path)") }
            defer { H5Dclose(set) }
            let status = values.withUnsafeBufferPointer {
                H5Dwrite(set, rs_h5t_native_float(), rs_h5s_all(), rs_h5s_all(), rs_h5p_default(), $0.baseAddress)
            }
            guard status >= 0 else { throw .writeFailed(file: self.path, reason: "cannot write dataset /\(path)") }
        }
    }

    /// Reads a floating-point dataset (any float width, converted to float32) and its shape;
    /// with `expected`, a dataset of another shape is refused before anything is allocated.
    func readFloats(_ path: String, expected: [Int]? = nil) throws(FormatError) -> (shape: [Int], values: [Float]) {
        guard exists(path) else { throw fail(path, "missing") }
        return try HDF5File.locked { () throws(FormatError) -> (shape: [Int], values: [Float]) in
            let set = H5Dopen2(id, path, rs_h5p_default())
            guard set >= 0 else { throw fail(path, "is not a dataset") }
            defer { H5Dclose(set) }
            let type = H5Dget_type(set)
            defer { H5Tclose(type) }
            guard H5Tget_class(type) == H5T_FLOAT else { throw fail(path, "must hold float32 values") }
            let shape = try dimensions(H5Dget_space(set), path)
            if let expected, shape != expected { throw fail(path, "has shape \(shape), expected \(expected)") }
            var values = [Float](repeating: 0, count: shape.reduce(1, *))
            let status = values.withUnsafeMutableBufferPointer {
                H5Dread(set, rs_h5t_native_float(), rs_h5s_all(), rs_h5s_all(), rs_h5p_default(), $0.baseAddress)
            }
            guard status >= 0 else { throw fail(path, "could not be read (damaged file?)") }
            return (shape, values)
        }
    }

    /// Most elements a dataset may have before anything is allocated for it (1 GiB of
    /// float32): a damaged or hostile file cannot make the reader allocate without bound.
    static let maxElements = 1 << 28
    /// Most elements an attribute may have.
    static let maxAttributeElements = 1 << 20

    private func dimensions(_ space: hid_t, _ path: String) throws(FormatError) -> [Int] {
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard (0...32).contains(rank) else { throw fail(path, "has an unreadable shape") }
        var dims = [hsize_t](repeating: 0, count: rank)
        H5Sget_simple_extent_dims(space, &dims, nil)
        var count = 1
        for d in dims {
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(clamping: d))
            guard !overflow, d <= hsize_t(Int.max), product <= HDF5File.maxElements else {
                throw fail(path, "has shape \(dims) (over \(HDF5File.maxElements) elements); not a revserve checkpoint")
            }
            count = product
        }
        return dims.map { Int($0) }
    }

    // MARK: strings

    private func utf8VariableString() -> hid_t {
        let t = H5Tcopy(rs_h5t_c_s1())
        H5Tset_size(t, rs_h5t_variable())
        H5Tset_cset(t, H5T_CSET_UTF8)
        return t
    }

    /// Writes a one-dimensional dataset of variable-length UTF-8 strings.
    func writeStrings(_ path: String, _ strings: [String]) throws(FormatError) {
        try HDF5File.locked { () throws(FormatError) in
            var dims = [hsize_t(strings.count)]
            let space = H5Screate_simple(1, &dims, nil)
            let type = utf8VariableString(), lcpl = intermediateGroups()
            defer { H5Sclose(space); H5Tclose(type); H5Pclose(lcpl) }
            let set = H5Dcreate2(id, path, type, space, lcpl, rs_h5p_default(), rs_h5p_default())
            guard set >= 0 else { throw .writeFailed(file: self.path, reason: "cannot create dataset /\(path)") }
            defer { H5Dclose(set) }
            let copies = strings.map { strdup($0) }
            defer { copies.forEach { free($0) } }
            var pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) }
            guard H5Dwrite(set, type, rs_h5s_all(), rs_h5s_all(), rs_h5p_default(), &pointers) >= 0 else {
                throw .writeFailed(file: self.path, reason: "cannot write dataset /\(path)")
            }
        }
    }

    /// Reads a one-dimensional string dataset, fixed or variable length.
    func readStrings(_ path: String) throws(FormatError) -> [String] {
        guard exists(path) else { throw fail(path, "missing") }
        return try HDF5File.locked { () throws(FormatError) -> [String] in
            let set = H5Dopen2(id, path, rs_h5p_default())
            guard set >= 0 else { throw fail(path, "is not a dataset") }
            defer { H5Dclose(set) }
            let fileType = H5Dget_type(set)
            defer { H5Tclose(fileType) }
            guard H5Tget_class(fileType) == H5T_STRING else { throw fail(path, "must hold strings") }
            let shape = try dimensions(H5Dget_space(set), path)
            guard shape.count == 1 else { throw fail(path, "must be a one-dimensional list of strings, has shape \(shape)") }
            return try readStringValues(count: shape[0], fileType: fileType, path: path) { memType, buffer in
                H5Dread(set, memType, rs_h5s_all(), rs_h5s_all(), rs_h5p_default(), buffer)
            }
        }
    }

    /// Reads `count` strings of `fileType` through `read(memoryType, buffer)`; handles both kinds.
    private func readStringValues(count: Int, fileType: hid_t, path: String,
                                  read: (hid_t, UnsafeMutableRawPointer) -> herr_t) throws(FormatError) -> [String] {
        guard (0...HDF5File.maxAttributeElements).contains(count) else { throw fail(path, "holds \(count) strings; not a revserve checkpoint") }
        if H5Tis_variable_str(fileType) > 0 {
            let memType = utf8VariableString()
            defer { H5Tclose(memType) }
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            guard pointers.withUnsafeMutableBytes({ read(memType, $0.baseAddress!) }) >= 0 else {
                throw fail(path, "could not be read as strings")
            }
            defer { pointers.forEach { H5free_memory($0) } }
            return pointers.map { $0.map { String(cString: $0) } ?? "" }
        }
        let size = H5Tget_size(fileType)
        guard size <= 1 << 16, size * count <= 1 << 26 else { throw fail(path, "holds strings of \(size) bytes; not a revserve checkpoint") }
        let memType = H5Tcopy(rs_h5t_c_s1())
        H5Tset_size(memType, size)
        defer { H5Tclose(memType) }
        var bytes = [UInt8](repeating: 0, count: max(1, size * count))
        guard bytes.withUnsafeMutableBytes({ read(memType, $0.baseAddress!) }) >= 0 else {
            throw fail(path, "could not be read as strings")
        }
        return (0..<count).map { i in
            let field = bytes[(i * size)..<((i + 1) * size)]
            return String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    // MARK: attributes

    /// Writes attribute `name` on the group (or file root, "") at `objectPath`.
    func writeAttribute(_ objectPath: String, _ name: String, _ value: AttributeValue) throws(FormatError) {
        try HDF5File.locked { () throws(FormatError) in
            let object = H5Oopen(id, objectPath.isEmpty ? "/" : objectPath, rs_h5p_default())
            guard object >= 0 else { throw .writeFailed(file: self.path, reason: "no object /\(objectPath)") }
            defer { H5Oclose(object) }
            let ok: Bool
            switch value {
            case .int(let v): ok = writeNumeric(object, name, fileType: rs_h5t_std_i64le(), memType: rs_h5t_native_int64(), [Int64(v)], scalar: true)
            case .ints(let v): ok = writeNumeric(object, name, fileType: rs_h5t_std_i64le(), memType: rs_h5t_native_int64(), v.map(Int64.init), scalar: false)
            case .float(let v): ok = writeNumeric(object, name, fileType: rs_h5t_ieee_f32le(), memType: rs_h5t_native_float(), [v], scalar: true)
            case .floats(let v): ok = writeNumeric(object, name, fileType: rs_h5t_ieee_f32le(), memType: rs_h5t_native_float(), v, scalar: false)
            case .string(let s):
                let type = utf8VariableString(), space = H5Screate(H5S_SCALAR)
                defer { H5Tclose(type); H5Sclose(space) }
                let attr = H5Acreate2(object, name, type, space, rs_h5p_default(), rs_h5p_default())
                if attr >= 0 {
                    let copy = strdup(s)
                    defer { free(copy) }
                    var pointer: UnsafePointer<CChar>? = UnsafePointer(copy)
                    ok = H5Awrite(attr, type, &pointer) >= 0
                    H5Aclose(attr)
                } else {
                    ok = false
                }
            }
            guard ok else { throw .writeFailed(file: self.path, reason: "cannot write attribute \(name) on /\(objectPath)") }
        }
    }

    private func writeNumeric<T>(_ object: hid_t, _ name: String, fileType: hid_t, memType: hid_t,
                                 _ values: [T], scalar: Bool) -> Bool {
        var dims = [hsize_t(values.count)]
        let space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, nil)
        defer { H5Sclose(space) }
        let attr = H5Acreate2(object, name, fileType, space, rs_h5p_default(), rs_h5p_default())
        guard attr >= 0 else { return false }
        defer { H5Aclose(attr) }
        return values.withUnsafeBufferPointer { H5Awrite(attr, memType, $0.baseAddress) } >= 0
    }

    /// Reads attribute `name` of the object at `objectPath`, or nil when it is absent. Integers
    /// and floats come back as .ints / .floats (or .int / .float for scalars), strings as .string.
    func readAttribute(_ objectPath: String, _ name: String) throws(FormatError) -> AttributeValue? {
        let where_ = objectPath.isEmpty ? "/" : objectPath
        guard objectPath.isEmpty || exists(objectPath) else { return nil }
        return try HDF5File.locked { () throws(FormatError) -> AttributeValue? in
            guard H5Aexists_by_name(id, where_, name, rs_h5p_default()) > 0 else { return nil }
            let attr = H5Aopen_by_name(id, where_, name, rs_h5p_default(), rs_h5p_default())
            guard attr >= 0 else { return nil }
            defer { H5Aclose(attr) }
            let type = H5Aget_type(attr), space = H5Aget_space(attr)
            defer { H5Tclose(type); H5Sclose(space) }
            let count = Int(H5Sget_simple_extent_npoints(space))
            let scalar = H5Sget_simple_extent_type(space) == H5S_SCALAR
            let label = "\(where_ == "/" ? "" : "/" + objectPath) attribute \(name)"
            // Bounded before allocating, and at least one value where a scalar is read.
            guard (scalar ? 1...1 : 0...HDF5File.maxAttributeElements).contains(count) else {
                throw fail(label, "has \(count) values; not a revserve checkpoint")
            }
            switch H5Tget_class(type) {
            case H5T_INTEGER:
                var v = [Int64](repeating: 0, count: count)
                guard H5Aread(attr, rs_h5t_native_int64(), &v) >= 0 else { throw fail(label, "unreadable") }
                return scalar ? .int(Int(v[0])) : .ints(v.map { Int($0) })
            case H5T_FLOAT:
                var v = [Float](repeating: 0, count: count)
                guard H5Aread(attr, rs_h5t_native_float(), &v) >= 0 else { throw fail(label, "unreadable") }
                return scalar ? .float(v[0]) : .floats(v)
            case H5T_STRING:
                let strings = try readStringValues(count: count, fileType: type, path: label) { memType, buffer in
                    H5Aread(attr, memType, buffer)
                }
                return .string(strings.first ?? "")
            default:
                throw fail(label, "has an unsupported type")
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
