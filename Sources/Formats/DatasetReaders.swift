// DatasetReaders: the file formats behind ImageDataset.
//
// - Fashion-MNIST: IDX files (big-endian; images magic 0x00000803 with dims N, 28, 28, labels
//   magic 0x00000801 with dim N), plain or gzip-compressed; the default directory is where
//   Debian's dataset-fashion-mnist package installs them.
// - CIFAR-10 binary: records of 1 label byte + 3072 bytes (R, G, B planes of 32×32).
// - Folder: root/<class>/*.png, classes sorted by name, every image converted to one shape.
// - Synthetic: random images and labels from a seed, for benchmarks.

import Bounds
import CZlib
import Tensor
#if canImport(Glibc)
import Glibc
#endif

public enum Datasets {
    public static let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"
    public static let fashionMNISTClasses = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    public static let cifar10Classes = ["airplane", "automobile", "bird", "cat", "deer",
                                        "dog", "frog", "horse", "ship", "truck"]

    // MARK: Fashion-MNIST / IDX

    /// Fashion-MNIST's train (60 000) or test (10 000) split from `directory`, where the files are
    /// named train-images-idx3-ubyte[.gz] and so on.
    public static func fashionMNIST(directory: String = fashionMNISTDirectory, split: DatasetSplit) throws(FormatError) -> ImageDataset {
        let prefix = split == .train ? "train" : "t10k"
        let images = try locate(directory, "\(prefix)-images-idx3-ubyte")
        let labels = try locate(directory, "\(prefix)-labels-idx1-ubyte")
        return try idx(images: images, labels: labels, classes: fashionMNISTClasses)
    }

    /// `name.gz` or `name` in `directory`, whichever exists.
    private static func locate(_ directory: String, _ name: String) throws(FormatError) -> String {
        for candidate in ["\(directory)/\(name).gz", "\(directory)/\(name)"] where fileExists(candidate) {
            return candidate
        }
        throw .fileNotFound(file: "\(directory)/\(name)[.gz]")
    }

    /// An IDX image file (N × H × W bytes) with its IDX label file.
    public static func idx(images: String, labels: String, classes: [String]) throws(FormatError) -> ImageDataset {
        let imageBytes = try readMaybeCompressed(images), labelBytes = try readMaybeCompressed(labels)
        let imageDims = try idxHeader(imageBytes, file: images, magic: 0x0000_0803, dims: 3)
        let labelDims = try idxHeader(labelBytes, file: labels, magic: 0x0000_0801, dims: 1)
        let (n, h, w) = (imageDims[0], imageDims[1], imageDims[2])
        // Each dimension is a 32-bit header field: their product can pass 2^64.
        guard let pixelCount = Checked.product([n, h, w]), let end = Checked.sum(16, pixelCount), imageBytes.count >= end else {
            throw .dataset(file: images, problem: "truncated: the header promises \(n) images of \(h)x\(w), the file has \(imageBytes.count) bytes")
        }
        guard labelBytes.count >= 8 + labelDims[0] else {
            throw .dataset(file: labels, problem: "truncated: the header promises \(labelDims[0]) labels, the file has \(labelBytes.count - 8) bytes of them")
        }
        guard labelDims[0] == n else {
            throw .dataset(file: labels, problem: "has \(labelDims[0]) labels but \(images) has \(n) images")
        }
        let labelValues = labelBytes[8..<(8 + n)].map(Int.init)
        if let bad = labelValues.firstIndex(where: { $0 >= classes.count }) {
            throw .dataset(file: labels, problem: "label \(labelValues[bad]) at index \(bad) is not below \(classes.count) classes")
        }
        return ImageDataset(source: images, shape: [1, h, w], classes: classes,
                            pixels: Array(imageBytes[16..<end]), labels: labelValues)
    }

    /// Checks an IDX header and returns its dimensions.
    private static func idxHeader(_ bytes: [UInt8], file: String, magic: UInt32, dims: Int) throws(FormatError) -> [Int] {
        func word(_ at: Int) -> UInt32 { bytes[at..<(at + 4)].reduce(0) { $0 << 8 | UInt32($1) } }
        guard bytes.count >= 4 + 4 * dims else {
            throw .dataset(file: file, problem: "truncated: \(bytes.count) bytes is shorter than an IDX header")
        }
        guard word(0) == magic else {
            throw .dataset(file: file, problem: "wrong magic number 0x\(String(word(0), radix: 16)), expected 0x\(String(magic, radix: 16)) for an IDX \(dims == 1 ? "label" : "image") file")
        }
        return (0..<dims).map { Int(word(4 + 4 * $0)) }
    }

    /// The largest data file read, after decompression: Fashion-MNIST's is 47 MB, CIFAR-10's
    /// batches 30 MB each; a gzip bomb stops here instead of filling memory.
    public static let maxFileBytes = 4 << 30

    /// The file's bytes, gunzipped when it is gzip-compressed (zlib reads plain files as they are).
    static func readMaybeCompressed(_ path: String) throws(FormatError) -> [UInt8] {
        guard fileExists(path) else { throw .fileNotFound(file: path) }
        guard let gz = gzopen(path, "rb") else { throw .unreadable(file: path, reason: errorText()) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = gzread(gz, &chunk, UInt32(chunk.count))
            if n < 0 {
                var code: Int32 = 0
                let message = String(cString: gzerror(gz, &code))
                gzclose(gz)
                throw .dataset(file: path, problem: "damaged gzip data: \(message)")
            }
            if n == 0 { break }
            guard bytes.count + Int(n) <= maxFileBytes else {
                gzclose(gz)
                throw .dataset(file: path, problem: "larger than \(maxFileBytes) bytes once decompressed")
            }
            bytes.append(contentsOf: chunk[0..<Int(n)])
        }
        // A gzip stream cut short reads as a clean end of file; gzclose_r reports it.
        let closed = gzclose(gz)
        guard closed == Z_OK else { throw .dataset(file: path, problem: "damaged or truncated gzip data (zlib error \(closed))") }
        return bytes
    }

    // MARK: CIFAR-10

    /// CIFAR-10's binary batches in `directory`: data_batch_1…5.bin (train) or test_batch.bin.
    public static func cifar10(directory: String, split: DatasetSplit) throws(FormatError) -> ImageDataset {
        let files = split == .train ? (1...5).map { "\(directory)/data_batch_\($0).bin" } : ["\(directory)/test_batch.bin"]
        var pixels: [UInt8] = [], labels: [Int] = []
        for file in files {
            let bytes = try readFile(file)
            guard bytes.count % 3073 == 0, !bytes.isEmpty else {
                throw .dataset(file: file, problem: "truncated: \(bytes.count) bytes is not a whole number of 3073-byte CIFAR-10 records")
            }
            for r in 0..<(bytes.count / 3073) {
                let label = Int(bytes[r * 3073])
                guard label < 10 else { throw .dataset(file: file, problem: "record \(r) has label \(label); CIFAR-10 labels are 0–9") }
                labels.append(label)
                pixels.append(contentsOf: bytes[(r * 3073 + 1)..<((r + 1) * 3073)])
            }
        }
        return ImageDataset(source: directory, shape: [3, 32, 32], classes: cifar10Classes, pixels: pixels, labels: labels)
    }

    // MARK: folder of PNGs

    /// root/<class>/*.png with classes sorted by name. Every image is converted to `shape`
    /// ([C, H, W]; by default the first image's size, gray if it is gray, else RGB) with the
    /// ImagePreprocessor's rules, and stored as 8 bits.
    public static func folder(_ root: String, shape wanted: [Int]? = nil,
                              maxPixels: Int = PNG.defaultMaxPixels) throws(FormatError) -> ImageDataset {
        let classes = try listDirectory(root).filter { isDirectory("\(root)/\($0)") }.sorted()
        guard !classes.isEmpty else { throw .dataset(file: root, problem: "has no class subdirectories (expected root/<class>/*.png)") }
        var shape = wanted, pixels: [UInt8] = [], labels: [Int] = []
        for (label, name) in classes.enumerated() {
            for file in try listDirectory("\(root)/\(name)").filter({ $0.lowercased().hasSuffix(".png") }).sorted() {
                let path = "\(root)/\(name)/\(file)"
                let image = try PNG.decodeFile(path, maxPixels: maxPixels)
                let target = shape ?? [image.channels <= 2 ? 1 : 3, image.height, image.width]
                shape = target
                let unit = ImagePreprocessor(inputShape: target, mean: [Float](repeating: 0, count: target[0]),
                                             std: [Float](repeating: 1, count: target[0]))
                let values = try unit.input(from: image, name: path)
                pixels.append(contentsOf: values.map { UInt8(max(0, min(255, ($0 * 255).rounded()))) })
                labels.append(label)
            }
        }
        guard let shape, !labels.isEmpty else { throw .dataset(file: root, problem: "has no .png images in its class directories") }
        return ImageDataset(source: root, shape: shape, classes: classes, pixels: pixels, labels: labels)
    }

    private static func listDirectory(_ path: String) throws(FormatError) -> [String] {
        guard let dir = opendir(path) else {
            throw errno == ENOENT ? .fileNotFound(file: path) : .unreadable(file: path, reason: errorText())
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    private static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    // MARK: synthetic

    /// `count` random images of `shape` with random labels in 0..<classes, from `seed`. Each
    /// class has a fixed random template that makes up half of every image of that class, the
    /// other half being noise, so the set is learnable (a training smoke test can succeed on it).
    public static func synthetic(count: Int, shape: [Int], classes: Int, seed: UInt64) -> ImageDataset {
        var templateRNG = SeededGenerator(seed: 0x5EED_7E3A_1A7E)   // the same templates for every split
        let size = shape.reduce(1, *)
        let templates = (0..<classes).map { _ in (0..<size).map { _ in UInt8(truncatingIfNeeded: templateRNG.next()) / 2 } }
        var rng = SeededGenerator(seed: seed)
        let labels = (0..<count).map { _ in Int(rng.next() % UInt64(classes)) }
        var pixels = [UInt8](repeating: 0, count: count * size)
        for i in 0..<count {
            for j in 0..<size { pixels[i * size + j] = templates[labels[i]][j] + UInt8(truncatingIfNeeded: rng.next()) / 2 }
        }
        return ImageDataset(source: "synthetic", shape: shape, classes: (0..<classes).map { "class \($0)" },
                            pixels: pixels, labels: labels)
    }
}
