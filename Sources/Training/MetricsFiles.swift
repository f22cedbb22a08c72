// MetricsFiles: the per-epoch history as JSON lines and as an SVG chart of loss and accuracy,
// written next to the checkpoint after every epoch.

import Foundation
import Formats

enum MetricsFiles {
    static func write(_ history: [EpochRecord], output: TrainingOutput) throws(TrainingError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var lines = ""
        for record in history {
            guard let data = try? encoder.encode(record) else { continue }
            lines += String(decoding: data, as: UTF8.self) + "\n"
        }
        do {
            try writeFile(output.metricsPath, Array(lines.utf8))
            try writeFile(output.chartPath, Array(chart(history).utf8))
        } catch {
            throw .output(error.description)
        }
    }

    /// Loss (left axis) and train/test accuracy (right axis, 0–100%) per epoch.
    static func chart(_ history: [EpochRecord]) -> String {
        let width = 640.0, height = 360.0, left = 60.0, right = 60.0, top = 30.0, bottom = 40.0
        let plotW = width - left - right, plotH = height - top - bottom
        let epochs = max(1, history.count)
        let maxLoss = Double(history.map { max($0.loss, $0.testLoss) }.max() ?? 1) * 1.1
        func x(_ i: Int) -> Double { left + (epochs == 1 ? plotW / 2 : plotW * Double(i) / Double(epochs - 1)) }
        func yLoss(_ v: Float) -> Double { top + plotH * (1 - Double(v) / max(maxLoss, 1e-9)) }
        func yAcc(_ v: Float) -> Double { top + plotH * (1 - Double(v)) }
        func line(_ points: [(Double, Double)], _ colour: String, dashed: Bool = false) -> String {
            let p = points.map { String(format: "%.1f,%.1f", $0.0, $0.1) }.joined(separator: " ")
            let dots = points.map { String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%@\"/>", $0.0, $0.1, colour) }.joined()
            return "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"\(dashed ? " stroke-dasharray=\"6,4\"" : "") points=\"\(p)\"/>" + dots
        }
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(Int(width / 2))" y="18" text-anchor="middle" font-size="14">Training: loss and accuracy per epoch</text>
        <rect x="\(left)" y="\(top)" width="\(plotW)" height="\(plotH)" fill="none" stroke="#999"/>

        """
        for k in 0...4 {
            let f = Double(k) / 4, y = top + plotH * (1 - f)
            svg += String(format: "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#eee\"/>", left, y, left + plotW, y)
            svg += String(format: "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#c0392b\">%.2f</text>", left - 6, y + 4, maxLoss * f)
            svg += String(format: "<text x=\"%.0f\" y=\"%.1f\" fill=\"#2471a3\">%.0f%%</text>\n", left + plotW + 6, y + 4, 100 * f)
        }
        for (i, r) in history.enumerated() {
            svg += String(format: "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%d</text>", x(i), top + plotH + 16, r.epoch)
        }
        svg += "<text x=\"\(Int(left + plotW / 2))\" y=\"\(Int(height - 6))\" text-anchor=\"middle\">epoch</text>\n"
        svg += line(history.enumerated().map { (x($0), yLoss($1.loss)) }, "#c0392b") + "\n"
        svg += line(history.enumerated().map { (x($0), yLoss($1.testLoss)) }, "#c0392b", dashed: true) + "\n"
        svg += line(history.enumerated().map { (x($0), yAcc($1.trainAccuracy)) }, "#2471a3") + "\n"
        svg += line(history.enumerated().map { (x($0), yAcc($1.testAccuracy)) }, "#2471a3", dashed: true) + "\n"
        let legend = [("train loss", "#c0392b", false), ("test loss", "#c0392b", true),
                      ("train accuracy", "#2471a3", false), ("test accuracy", "#2471a3", true)]
        for (k, (label, colour, dashed)) in legend.enumerated() {
            let lx = left + 8 + Double(k) * 125
            svg += "<line x1=\"\(lx)\" y1=\"\(top + 12)\" x2=\"\(lx + 24)\" y2=\"\(top + 12)\" stroke=\"\(colour)\" stroke-width=\"2\"\(dashed ? " stroke-dasharray=\"6,4\"" : "")/>"
            svg += "<text x=\"\(lx + 30)\" y=\"\(top + 16)\">\(label)</text>\n"
        }
        return svg + "</svg>\n"
    }
}
