// PluginOptions: where `serve` and `train` find architecture plugins (shared option group).

import ArgumentParser
import Foundation
import PluginHost

struct PluginOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Directory of architecture plugin libraries (*.so) to load (default: the bundled plugins beside the revserve executable, when built).",
                               valueName: "dir"))
    var plugins: String?

    @Flag(help: "Use only the built-in architectures, no plugin libraries.")
    var noPlugins = false

    func validate() throws {
        if let plugins {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: plugins, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--plugins \(plugins): no such directory")
            }
        }
        if plugins != nil && noPlugins { throw ValidationError("--plugins and --no-plugins exclude each other") }
    }

    /// Loads and registers the plugins (for commands that build networks in-process); a
    /// refused library is reported on standard error and the rest still load.
    func register() {
        guard let directory else { return }
        for error in PluginRegistry(directory: directory).rescan().refused { printError("plugin refused: \(error)") }
    }

    /// The directory to load, nil for built-ins only.
    var directory: String? {
        if noPlugins { return nil }
        if let plugins { return plugins }
        let beside = PluginRegistry.besideExecutable
        let bundled = PluginLoader.libraries(in: beside).contains { URL(fileURLWithPath: $0).lastPathComponent.hasPrefix("libRevservePlugin") }
        return bundled ? beside : nil
    }
}
