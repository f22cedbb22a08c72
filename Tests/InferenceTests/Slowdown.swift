// Slowdown: time limits of this target scale with REVSERVE_TEST_SLOWDOWN, which
// `make test-sanitize` sets (sanitized code runs 2–15× slower; ServerTestSupport's testSlowdown
// for the targets that use it).

import Foundation

/// One minute times the slowdown, rounded up.
let slowdownMinutes = Int((max(1, Double(ProcessInfo.processInfo.environment["REVSERVE_TEST_SLOWDOWN"] ?? "") ?? 1)).rounded(.up))
