// DatasetTests: IDX (plain and gzip), CIFAR-10 binary, PNG folders and synthetic sets, and the
// errors for wrong magic numbers, truncation and mismatched label counts.

import CZlib
import Foundation
import Testing
@testable import Formats

func idxBytes(magic: UInt32, dims: [Int], payload: [UInt8]) -> [UInt8] {
    func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 255), UInt8((v >> 8) & 255), UInt8(v & 255)] }
    return be(magic) + dims.flatMap { be(UInt32($0)) } + payload
}

func writeGzip(_ path: String, _ bytes: [UInt8]) {
    let gz = gzopen(path, "wb")!
    _ = bytes.withUnsafeBufferPointer { gzwrite(gz, $0.baseAddress, UInt32($0.count)) }
    gzclose(gz)
}

func datasetError(_ body: () throws -> ImageDataset) -> String {
    do { _ = try body(); return "no error" } catch { return "\(error)" }
}

@Suite struct DatasetTests {
    @Test func idxPlainAndGzipped() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pixels = (0..<(3 * 2 * 2)).map { UInt8($0 * 20) }
        try writeFile(dir + "/train-images-idx3-ubyte", idxBytes(magic: 0x803, dims: [3, 2, 2], payload: pixels))
        writeGzip(dir + "/train-labels-idx1-ubyte.gz", idxBytes(magic: 0x801, dims: [3], payload: [2, 0, 9]))
        let set = try Datasets.fashionMNIST(directory: dir, split: .train)
        #expect(set.count == 3 && set.shape == [1, 2, 2] && set.labels == [2, 0, 9] && set.pixels == pixels)
        #expect(set.classes[9] == "Ankle boot")
        let (x, labels) = set.batch([2, 0], mean: [0.5], std: [0.5])
        #expect(x.shape == [2, 1, 2, 2] && labels == [9, 2])
        #expect(abs(x.data[0] - (Float(160) / 255 - 0.5) / 0.5) <= 1e-6)
    }

    @Test func idxErrorsNameTheFile() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let images = dir + "/i", labels = dir + "/l"
        try writeFile(images, idxBytes(magic: 0x803, dims: [3, 2, 2], payload: [UInt8](repeating: 1, count: 12)))
        try writeFile(labels, idxBytes(magic: 0x802, dims: [3], payload: [0, 1, 2]))
        #expect(datasetError { try Datasets.idx(images: images, labels: labels, classes: Datasets.fashionMNISTClasses) }
                == "\(labels): wrong magic number 0x802, expected 0x801 for an IDX label file")
        try writeFile(labels, idxBytes(magic: 0x801, dims: [2], payload: [0, 1]))
        #expect(datasetError { try Datasets.idx(images: images, labels: labels, classes: Datasets.fashionMNISTClasses) }
                == "\(labels): has 2 labels but \(images) has 3 images")
        try writeFile(images, idxBytes(magic: 0x803, dims: [3, 2, 2], payload: [1, 2, 3]))
        #expect(datasetError { try Datasets.idx(images: images, labels: labels, classes: Datasets.fashionMNISTClasses) }
                .hasPrefix("\(images): truncated: the header promises 3 images of 2x2"))
        // A gzip file cut short.
        let full = idxBytes(magic: 0x803, dims: [50, 8, 8], payload: (0..<3200).map { UInt8(truncatingIfNeeded: $0 * 7) })
        writeGzip(dir + "/full.gz", full)
        let gz = try readFile(dir + "/full.gz")
        try writeFile(dir + "/cut.gz", Array(gz.prefix(gz.count / 2)))
        #expect(datasetError { try Datasets.idx(images: dir + "/cut.gz", labels: labels, classes: ["a"]) }
                .hasPrefix("\(dir)/cut.gz: damaged"))
        #expect(datasetError { try Datasets.fashionMNIST(directory: dir + "/none", split: .test) }
                == "\(dir)/none/t10k-images-idx3-ubyte[.gz]: no such file")
    }

    @Test func cifar10Batches() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var record = [UInt8](repeating: 0, count: 3073)
        record[0] = 7
        record[1] = 200          // R plane, first pixel
        record[1 + 1024] = 100   // G plane
        try writeFile(dir + "/test_batch.bin", record + record)
        let set = try Datasets.cifar10(directory: dir, split: .test)
        #expect(set.count == 2 && set.labels == [7, 7] && set.shape == [3, 32, 32] && set.classes[7] == "horse")
        #expect(set.pixels[0] == 200 && set.pixels[1024] == 100)
        try writeFile(dir + "/test_batch.bin", record + [1, 2])
        #expect(datasetError { try Datasets.cifar10(directory: dir, split: .test) }
                == "\(dir)/test_batch.bin: truncated: 3075 bytes is not a whole number of 3073-byte CIFAR-10 records")
        record[0] = 12
        try writeFile(dir + "/test_batch.bin", record)
        #expect(datasetError { try Datasets.cifar10(directory: dir, split: .test) }.contains("record 0 has label 12"))
    }

    @Test func folderOfPNGsSortsClassesAndConvertsImages() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (cls, value) in [("zebra", 10), ("ant", 250)] {
            try FileManager.default.createDirectory(atPath: "\(dir)/\(cls)", withIntermediateDirectories: true)
            // An RGB 4×4 image and a gray 2×2 one that gets converted and resized to RGB 4×4.
            try writeFile("\(dir)/\(cls)/a.png", PNG.encode(PNGImage(width: 4, height: 4, channels: 3, bitDepth: 8,
                                                                     samples: [UInt16](repeating: UInt16(value), count: 48))))
            try writeFile("\(dir)/\(cls)/b.png", PNG.encode(PNGImage(width: 2, height: 2, channels: 1, bitDepth: 8,
                                                                     samples: [UInt16](repeating: UInt16(value), count: 4))))
        }
        let set = try Datasets.folder(dir)
        #expect(set.classes == ["ant", "zebra"] && set.labels == [0, 0, 1, 1] && set.shape == [3, 4, 4])
        #expect(set.pixels[0] == 250 && set.pixels[48 + 47] == 250 && set.pixels[3 * 48] == 10)
        #expect(datasetError { try Datasets.folder(dir + "/ant") }.contains("has no class subdirectories"))
    }

    @Test func syntheticIsDeterministic() {
        let a = Datasets.synthetic(count: 5, shape: [3, 4, 4], classes: 3, seed: 9)
        let b = Datasets.synthetic(count: 5, shape: [3, 4, 4], classes: 3, seed: 9)
        #expect(a.pixels == b.pixels && a.labels == b.labels && a.labels.allSatisfy { $0 < 3 })
    }
}
