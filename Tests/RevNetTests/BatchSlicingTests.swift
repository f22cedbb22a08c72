// BatchSlicingTests: how a batch is cut into per-worker slices, and that inference on slices
// gives the unsliced logits and evaluation counts for every architecture, and its errors.

import Testing
@testable import RevNet
@testable import Tensor

@Suite struct BatchSlicingTests {
    /// The slices of a batch of n two-channel h × w images (a helper, so that a failed
    /// expectation prints the numbers, not the tensor).
    private func slices(_ n: Int, _ h: Int, _ w: Int, threads: Int) -> [Range<Int>]? {
        BatchSlicing.slices(of: BlockState([Tensor(zeros: [n, 2, h, w])]), threads: ComputeThreads(threads))
    }

    @Test func slicesCoverTheBatchInOrderWithEnoughPixelsEach() throws {
        // One worker, or too few slices of at least 1024 pixels for two per worker: no slicing.
        #expect(slices(64, 32, 32, threads: 1) == nil)
        #expect(slices(8, 8, 8, threads: 2) == nil)   // 16 images of 8×8 a slice
        #expect(slices(3, 32, 32, threads: 2) == nil)
        // hamiltonian-74 at batch 64 on two workers: 4, 4 and 16 images a slice in its three units.
        let unit1 = try #require(slices(64, 32, 32, threads: 2))
        #expect(unit1.count == 16 && unit1.allSatisfy { $0.count == 4 })
        let unit3 = try #require(slices(64, 8, 8, threads: 2))
        #expect(unit3.count == 4 && unit3.allSatisfy { $0.count == 16 })
        for (n, h, threads) in [(61, 16, 2), (100, 32, 2), (9, 32, 4), (100, 8, 3)] {
            let cut = try #require(slices(n, h, h, threads: threads), "\(n) images of \(h)×\(h) on \(threads)")
            #expect(cut.first?.lowerBound == 0 && cut.last?.upperBound == n, "\(n) images of \(h)×\(h)")
            #expect(zip(cut, cut.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound && !$0.isEmpty })
            #expect(cut.dropLast().allSatisfy { $0.count * h * h >= BatchSlicing.minimumPixels })
            #expect(cut.count >= 2 * threads)
        }
    }

    @Test(arguments: ["hamiltonian", "midpoint", "leapfrog"])
    func slicedInferenceGivesTheWholeBatchsLogitsAndCounts(_ arch: String) throws {
        // 16×16 images: 4 a slice, so a batch of 18 is 5 slices (the last of 2) on two workers.
        let config = smallConfig(arch, blocks: [3, 2], widths: [16, 24], input: [3, 16, 16])
        let network = try Network(config: config, seed: 3)
        let (x, _) = batch(config, n: 18, seed: 4)
        #expect(slices(18, 16, 16, threads: 2)?.count == 5)
        let whole = EvaluationCounter(), sliced = EvaluationCounter()
        let expected = try network.logits(x, EngineContext(threads: .one, counter: whole))
        let got = try network.logits(x, EngineContext(threads: ComputeThreads(2), counter: sliced))
        #expect(relativeL2(got, expected) <= 1e-6)
        #expect(sliced.count == whole.count && whole.count == 5 * network.architecture.functionsPerBlock)
        // Every image's logits are its own: the same image alone gives the same row.
        let alone = try network.logits(try x.batchItems(13..<14))
        #expect(relativeL2(try got.batchItems(13..<14), alone) <= 1e-6)
    }

    @Test(arguments: ["hamiltonian", "midpoint", "leapfrog"])
    func slicedTrainingGivesTheWholeBatchsGradients(_ arch: String) throws {
        // The first unit (16×16, batch 18) runs forward and backward on 5 slices on two
        // workers, block by block; the second (8×8) is not sliced. Reversible mode only.
        let config = smallConfig(arch, blocks: [3, 2], widths: [16, 24], input: [3, 16, 16])
        let network = try Network(config: config, seed: 5)
        let (x, labels) = batch(config, n: 18, seed: 6)
        let whole = try step(network, x, labels, .reversible, threads: 1)
        let sliced = try step(network, x, labels, .reversible, threads: 2)
        #expect(abs(sliced.loss - whole.loss) <= 1e-6 * abs(whole.loss))
        #expect(relativeL2(sliced.inputGradient, whole.inputGradient) <= 1e-5)
        for (name, (a, b)) in zip(whole.gradients.names, zip(sliced.gradients.tensors, whole.gradients.tensors)) {
            #expect(relativeL2(a, b) <= 1e-5, "\(name)")
        }
        #expect(sliced.evaluations == whole.evaluations && whole.evaluations == 2 * 5 * network.architecture.functionsPerBlock)
        // Repeatable for a thread count: chunks of slices are summed in order.
        let again = try step(network, x, labels, .reversible, threads: 2)
        #expect(again.gradients.tensors.map(\.data) == sliced.gradients.tensors.map(\.data))
    }

    @Test func anErrorInASliceIsThrown() throws {
        let arch = Hamiltonian(), width = 16
        var parameters = [heParameters(arch, width: width, seed: 1), heParameters(arch, width: width, seed: 2)]
        parameters[1][2] = Tensor(zeros: [width])   // b1 must be (8)
        let x = randomTensor([16, width, 16, 16], seed: 5)
        #expect(BatchSlicing.slices(of: try arch.enter(x), threads: ComputeThreads(2)) != nil)
        #expect {
            try arch.forward(blocks: 0..<2, parameters: parameters, state: try arch.enter(x), h: 0.1,
                             EngineContext(threads: ComputeThreads(2)))
        } throws: { error in
            "\(error)".contains("block 1") && "\(error)".contains("b1")
        }
    }
}
