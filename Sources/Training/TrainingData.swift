// TrainingData: the train and held-out sets of a run, and the normalisation computed from the
// training images (stored in the checkpoint, applied by every consumer of the model).

import Formats
import RevNet
import Tensor

public struct TrainingData: Sendable {
    public var train: ImageDataset
    public var test: ImageDataset
    public var mean: [Float]
    public var std: [Float]

    /// Loads both splits; errors name the missing or broken file.
    public static func load(_ o: TrainingOptions) throws(TrainingError) -> TrainingData {
        do {
            let train: ImageDataset, test: ImageDataset
            switch o.dataset {
            case .fashionMNIST:
                train = try Datasets.fashionMNIST(directory: o.dataPath, split: .train)
                test = try Datasets.fashionMNIST(directory: o.dataPath, split: .test)
            case .cifar10:
                train = try Datasets.cifar10(directory: o.dataPath, split: .train)
                test = try Datasets.cifar10(directory: o.dataPath, split: .test)
            case .folder:
                (train, test) = holdOut(try Datasets.folder(o.dataPath), fraction: 0.1, seed: o.seed)
            case .synthetic:
                let shape = o.network.inputShape, k = o.network.numClasses
                train = Datasets.synthetic(count: o.syntheticCount, shape: shape, classes: k, seed: o.seed)
                test = Datasets.synthetic(count: max(2, o.syntheticCount / 5), shape: shape, classes: k, seed: o.seed &+ 1)
            }
            guard train.count >= o.batchSize else {
                throw TrainingError.data("\(train.source): \(train.count) training images is fewer than one batch of \(o.batchSize)")
            }
            let (mean, std) = train.channelStatistics()
            return TrainingData(train: train, test: test, mean: mean, std: std)
        } catch let error as FormatError {
            throw .data(error.description)
        } catch let error as TrainingError {
            throw error
        } catch {
            throw .data("\(error)")
        }
    }

    /// Splits off a seeded `fraction` of the images as the held-out set (for folders).
    static func holdOut(_ all: ImageDataset, fraction: Double, seed: UInt64) -> (ImageDataset, ImageDataset) {
        var order = Array(0..<all.count)
        var rng = SeededGenerator(seed: seed)
        order.shuffle(using: &rng)
        let cut = max(1, Int(Double(all.count) * fraction))
        func subset(_ indices: ArraySlice<Int>) -> ImageDataset {
            var pixels: [UInt8] = []
            pixels.reserveCapacity(indices.count * all.imageSize)
            for i in indices { pixels.append(contentsOf: all.pixels[(i * all.imageSize)..<((i + 1) * all.imageSize)]) }
            return ImageDataset(source: all.source, shape: all.shape, classes: all.classes, pixels: pixels,
                                labels: indices.map { all.labels[$0] })
        }
        return (subset(order[cut...]), subset(order[..<cut]))
    }
}

