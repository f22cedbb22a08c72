// ServerMetrics: the daemon's Prometheus metrics, recorded through swift-metrics and exposed by
// swift-prometheus at GET /metrics: requests by endpoint and status, request / queue / compute
// durations, executed batch sizes and queue depth per model.

import Inference
import Metrics
import Prometheus

public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    /// Metrics in their own registry. `bootstrap` also routes swift-metrics' global system
    /// here (once per process: the daemon does it, tests of several servers need not).
    public init(bootstrap: Bool) {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets["revserve_batch_size"] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
        factory.defaultDurationHistogramBuckets = Self.durationBuckets
        self.factory = factory
        if bootstrap { MetricsSystem.bootstrap(factory) }
    }

    /// One answered request: `endpoint` is the route's template, never the raw path.
    func requestFinished(endpoint: String, status: Int, nanoseconds: UInt64) {
        let dims = [("endpoint", endpoint), ("code", String(status))]
        factory.makeCounter(label: "revserve_requests_total", dimensions: dims).increment(by: 1)
        factory.makeTimer(label: "revserve_request_duration_seconds", dimensions: [("endpoint", endpoint)])
            .recordNanoseconds(Int64(clamping: nanoseconds))
    }

    func queued(model: String, nanoseconds: UInt64) {
        factory.makeTimer(label: "revserve_queue_duration_seconds", dimensions: [("model", model)])
            .recordNanoseconds(Int64(clamping: nanoseconds))
    }

    /// The batcher's observer for `model`: batch sizes, compute time, queue depth.
    func observer(model: String) -> BatchObserver {
        let compute = factory.makeTimer(label: "revserve_compute_duration_seconds", dimensions: [("model", model)])
        let sizes = factory.makeRecorder(label: "revserve_batch_size", dimensions: [("model", model)], aggregate: true)
        let depth = factory.makeMeter(label: "revserve_queue_depth", dimensions: [("model", model)])
        return BatchObserver(batchExecuted: { images, ns in
            compute.recordNanoseconds(Int64(clamping: ns))
            sizes.record(Int64(images))
        }, queueDepth: { depth.set(Double($0)) })
    }

    /// 100 µs … 10 s in steps of 1, 1.5, 2, 3, 5, 7.5 per decade: a quantile read from the
    /// buckets is at most 1.67× high (a 1-2.5-5 series rounds 0.51 s up to 1 s, too coarse to
    /// read "queued ≤ two batches" from /metrics).
    static let durationBuckets: [Duration] = [100, 1_000, 10_000, 100_000, 1_000_000].flatMap { decade in
        [10, 15, 20, 30, 50, 75].map { Duration.microseconds($0 * decade / 10) }
    } + [.seconds(10)]

    /// The Prometheus text exposition.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }
}
