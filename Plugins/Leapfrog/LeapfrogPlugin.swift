// The Leapfrog architecture as a revserve plugin library (see docs/PLUGINS.md): the engine's
// Leapfrog blocks behind revserve_plugin.h's one exported symbol.

import PluginABI
import PluginKit
import RevNet

@_cdecl("revserve_plugin_entry")
public func revserve_plugin_entry(_ hostMajor: UInt32, _ hostMinor: UInt32) -> UnsafePointer<rs_plugin>? {
    PluginExport.entry(Leapfrog(), description: "Leapfrog reversible blocks (docs/spec/NETWORKS.md §2), revserve's Swift implementation",
                       hostMajor: hostMajor, hostMinor: hostMinor)
}
