// PluginABI is header-only; this file exists because SwiftPM needs a source in a C target.
#include "revserve_plugin.h"
