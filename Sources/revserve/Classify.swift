// `revserve classify`: the client: sends PNG files to a running daemon over its Unix socket
// and prints each file's top labels.

import ArgumentParser
import Inference
import Foundation
import Formats
import Server

struct Classify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify PNG images with a running `revserve serve` daemon.",
        discussion: """
            Sends each file to POST /v2/models/MODEL/classify (several at a time, so the daemon \
            batches them) and prints 'file: label (probability)', or with --json an array of \
            objects with file, model, version and predictions. The exit status is non-zero if \
            the daemon is unreachable or any file failed.

            Examples:
              revserve classify --model hamiltonian samples/*.png
              revserve classify --socket /tmp/rs.sock --model midpoint --top 3 \\
                  --json shoe.png
            """)

    @Option(help: "The daemon's socket (default: $XDG_RUNTIME_DIR/revserve.sock, else /tmp/revserve-<uid>.sock).")
    var socket: String?

    @Option(help: "The model to ask (default: the only one the daemon serves).")
    var model: String?

    @Option(help: "A specific version of the model.")
    var version: Int?

    @Option(help: "How many classes to show per image.")
    var top = 1

    @Flag(help: "Print JSON.")
    var json = false

    @Argument(help: "PNG files.")
    var files: [String]

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one PNG file") }
        try requireBound("--top", top, FlagBounds.top)
        if let version { try requireBound("--version", version, ModelConfig.versionBound) }
    }

    struct Prediction: Codable {
        var label: String
        var index: Int
        var probability: Float
    }
    struct Answer: Codable {
        var model_name: String
        var model_version: String
        var predictions: [[Prediction]]
    }
    struct Line: Encodable {
        var file: String
        var model: String
        var version: String
        var predictions: [Prediction]
    }

    func run() async throws {
        let socket = self.socket ?? ServeConfiguration.defaultSocketPath(environment: ProcessInfo.processInfo.environment)
        do {
            let model = try await chooseModel(socket)
            let route = "/v2/models/\(model)" + (version.map { "/versions/\($0)" } ?? "") + "/classify?top=\(top)"
            // Several requests in flight, in file order in the output.
            var results = [Result<Line, Error>?](repeating: nil, count: files.count)
            try await withThrowingTaskGroup(of: (Int, Result<Line, Error>).self) { group in
                var next = 0
                func submit() {
                    let i = next, file = files[i]
                    next += 1
                    group.addTask { (i, await Self.classify(file, socket: socket, route: route)) }
                }
                for _ in 0..<min(16, files.count) { submit() }
                while let (i, result) = try await group.next() {
                    if case .failure(let e as ClientError) = result, case .unreachable = e { throw e }
                    results[i] = result
                    if next < files.count { submit() }
                }
            }
            var lines: [Line] = [], failed = false
            for result in results.compactMap({ $0 }) {
                switch result {
                case .success(let line):
                    lines.append(line)
                    if !json {
                        print("\(line.file): " + line.predictions.map { String(format: "%@ (%.3f)", $0.label, $0.probability) }.joined(separator: ", "))
                    }
                case .failure(let error):
                    printError("\(error)")
                    failed = true
                }
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(lines), as: UTF8.self))
            }
            if failed { throw ExitCode.failure }
        } catch let error as ClientError {
            printError("\(error)")
            throw ExitCode.failure
        }
    }

    /// --model, or the daemon's only model.
    private func chooseModel(_ socket: String) async throws -> String {
        if let model { return model }
        let response = try await UnixHTTPClient.send(socket: socket, method: "GET", path: "/v2/models/stats")
        let names = ((try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any])
            .flatMap { $0["model_stats"] as? [[String: Any]] }?.compactMap { $0["name"] as? String } ?? []
        guard names.count == 1 else {
            throw ValidationError(names.isEmpty ? "the daemon at \(socket) serves no ready model"
                                                : "the daemon serves \(names.joined(separator: ", ")); choose one with --model")
        }
        return names[0]
    }

    private static func classify(_ file: String, socket: String, route: String) async -> Result<Line, Error> {
        do {
            let bytes = try readFile(file)
            let response = try await UnixHTTPClient.send(socket: socket, method: "POST", path: route,
                                                         headers: [("Content-Type", "image/png")], body: bytes)
            guard response.status == 200 else {
                let message = ((try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any])?["error"] as? String
                throw ValidationError("\(file): the daemon answered \(response.status): \(message ?? response.text)")
            }
            let answer = try JSONDecoder().decode(Answer.self, from: Data(response.body))
            return .success(Line(file: file, model: answer.model_name, version: answer.model_version,
                                 predictions: answer.predictions.first ?? []))
        } catch {
            return .failure(error)
        }
    }
}
