// ProgressDisplay: what a person watching `revserve train` sees: a live line on a terminal (plain
// periodic lines otherwise), a table row per epoch, and a summary at the end.

import Foundation
import Training

struct ProgressDisplay {
    private let terminal = isatty(STDOUT_FILENO) != 0
    private var lastPrint = Date.distantPast
    private var liveLine = false
    private var headerPrinted = false

    mutating func show(_ event: TrainingEvent) {
        switch event {
        case .started(let s):
            let resumed = s.firstStep > 0 ? ", resuming at step \(s.firstStep)" : ""
            emit("training \(s.parameters) parameters on \(s.trainImages) images (\(s.testImages) held out): \(s.totalSteps) steps, \(s.stepsPerEpoch) per epoch\(resumed)")
            emit("checkpoint: \(s.checkpointPath)")
        case .progress(let p):
            let now = Date()
            let interval = terminal ? 0.2 : 15
            guard now.timeIntervalSince(lastPrint) >= interval || p.step == p.totalSteps else { return }
            lastPrint = now
            let line = String(format: "epoch %d/%d  step %d/%d  loss %.4f  acc %.2f%%  %.0f img/s  ETA %@",
                              p.epoch, p.epochs, p.stepInEpoch, p.stepsPerEpoch, p.loss, 100 * p.accuracy,
                              p.imagesPerSecond, duration(p.etaSeconds))
            if terminal {
                FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + line).utf8))
                liveLine = true
            } else {
                emit(line)
            }
        case .epochFinished(let r):
            endLiveLine()
            if !headerPrinted {
                emit("epoch   train loss   train acc   test loss   test acc   lr        seconds")
                headerPrinted = true
            }
            emit(String(format: "%5d   %10.4f   %8.2f%%   %9.4f   %7.2f%%   %-8.4g  %7.1f", r.epoch, r.loss, 100 * r.trainAccuracy,
                         r.testLoss, 100 * r.testAccuracy, r.learningRate, r.seconds))
        case .checkpointWritten:
            break
        case .published(let version):
            emit("published \(version)")
        case .stopped(let step):
            endLiveLine()
            emit("stopped at step \(step); checkpoint written. Continue with --resume.")
        }
    }

    mutating func finish(_ summary: TrainingSummary) {
        endLiveLine()
        guard !summary.stopped, let last = summary.history.last else { return }
        let total = summary.history.reduce(Float(0)) { $0 + $1.seconds }
        emit(String(format: "done: test accuracy %.2f%% after %d epochs, %@ of training", 100 * last.testAccuracy,
                     summary.history.count, duration(Double(total))))
        emit("checkpoint \(summary.checkpointPath); metrics and chart beside it")
    }

    /// Unbuffered, so that lines reach a log file as they happen.
    private func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Clears the live line, so that what is printed next takes its place.
    private mutating func endLiveLine() {
        if liveLine { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)); liveLine = false }
    }

    private func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : String(format: "%dm%02ds", s / 60, s % 60)
    }
}
