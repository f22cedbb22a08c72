// The revserve executable: one root command whose subcommands serve, train and inspect
// reversible residual networks. Only this target prints and exits.

import ArgumentParser

@main
struct RevServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revserve",
        abstract: "Serve and train reversible residual networks (Hamiltonian, Midpoint, Leapfrog).",
        subcommands: [Serve.self, Classify.self, Train.self, Eval.self, Predict.self, Inspect.self, Bench.self, ReadCheckpoint.self])
}
