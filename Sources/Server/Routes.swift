// Routes: the Open Inference Protocol's endpoints (docs/spec/PROTOCOL.md) on a Hummingbird router:
// health, server and model metadata, readiness, infer, classify, statistics and metrics.
// Handlers decode, call the model runner and encode; errors are thrown and mapped in one place.

import Foundation
import HTTPTypes
import Hummingbird
import Inference
import Logging
import NIOCore
import Synchronization

public struct InferenceAPI: Sendable {
    public static let serverVersion = "0.6.0"
    static let extensions = ["binary_tensor_data", "classification", "model_repository", "statistics"]

    let store: ModelStore
    let repository: RepositoryManager
    let state: ServerState
    let metrics: ServerMetrics
    let runner: ModelRunner
    let limits: RequestLimits
    let bodies: BodyBudget

    public init(store: ModelStore, repository: RepositoryManager, state: ServerState, metrics: ServerMetrics, limits: RequestLimits) {
        self.store = store
        self.repository = repository
        self.state = state
        self.metrics = metrics
        self.limits = limits
        bodies = BodyBudget(limit: limits.maxInflightBodyBytes)
        runner = ModelRunner(maxImagePixels: limits.maxImagePixels, metrics: metrics)
    }

    public func router(logger: Logger) -> Router<ServerContext> {
        let router = Router(context: ServerContext.self)
        router.add(middleware: AccessLogMiddleware(metrics: metrics, logger: logger))
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: RequestGuard())

        router.get("/v2/health/live") { _, _ in json(["live": true]) }
        router.get("/v2/health/ready") { _, _ in
            switch state.current {
            case .ready: return json(["ready": true])
            case .loading: throw APIError.unavailable("the server is loading its models")
            case .draining: throw APIError.unavailable("the server is shutting down")
            }
        }
        router.get("/v2") { _, _ in
            json(["name": "revserve", "version": Self.serverVersion, "extensions": Self.extensions])
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
        router.get("/v2/models/stats") { _, _ in try statistics(store.serving) }

        // Repository extension. Changing what is served is for the daemon's owner only.
        router.post("/v2/repository/index") { _, _ in
            let rows: [[String: Any]] = await repository.index().map { row in
                var o: [String: Any] = ["name": row.name, "state": row.state, "reason": row.reason]
                if let v = row.version { o["version"] = String(v) }
                return o
            }
            return json(rows)
        }
        router.post("/v2/repository/models/:model/load") { _, context in
            try await context.requireOwner("loading models")
            try await repository.loadModel(try context.parameters.require("model"))
            return json([String: String]())
        }
        router.post("/v2/repository/models/:model/unload") { _, context in
            try await context.requireOwner("unloading models")
            try await repository.unloadModel(try context.parameters.require("model"))
            return json([String: String]())
        }

        for versioned in [false, true] {
            let base = versioned ? "/v2/models/:model/versions/:version" : "/v2/models/:model"
            router.get(RouterPath(base)) { _, context in try metadata(resolve(context)) }
            router.get(RouterPath(base + "/ready")) { _, context in
                _ = try resolve(context)
                return json(["name": try context.parameters.require("model"), "ready": true])
            }
            router.get(RouterPath(base + "/stats")) { _, context in
                // A model's statistics cover every version it serves, unless the path names one.
                if context.parameters.get("version") == nil {
                    _ = try resolve(context)
                    let name = try context.parameters.require("model")
                    return try statistics(store.serving.filter { $0.descriptor.name == name })
                }
                return try statistics([resolve(context)])
            }
            router.post(RouterPath(base + "/infer")) { request, context in
                try await serve(request, context, name: "infer", handler: infer)
            }
            router.post(RouterPath(base + "/classify")) { request, context in
                try await serve(request, context, name: "classify", handler: classify)
            }
        }
        refuseOtherMethods(on: router)
        return router
    }

    /// A known path asked with another method answers 405 with `Allow` (docs/PROTOCOL.md), not 404.
    private func refuseOtherMethods(on router: Router<ServerContext>) {
        var paths: [(String, HTTPRequest.Method)] = ["/v2/health/live", "/v2/health/ready", "/v2", "/metrics", "/v2/models/stats"].map { ($0, .get) }
            + ["/v2/repository/index", "/v2/repository/models/:model/load", "/v2/repository/models/:model/unload"].map { ($0, .post) }
        for base in ["/v2/models/:model", "/v2/models/:model/versions/:version"] {
            paths += [(base, .get), (base + "/ready", .get), (base + "/stats", .get), (base + "/infer", .post), (base + "/classify", .post)]
        }
        for (path, allowed) in paths {
            for method in [HTTPRequest.Method.get, .post, .put, .delete, .patch] where method != allowed {
                router.on(RouterPath(path), method: method) { _, _ -> Response in
                    var response = APIError(.methodNotAllowed, "\(method) is not allowed here; this path takes \(allowed)").response()
                    response.headers[.allow] = allowed.rawValue
                    return response
                }
            }
        }
    }

    // MARK: models

    /// The ready model the path names (with its version, if the path has one).
    private func resolve(_ context: ServerContext) throws -> ServingModel {
        let name = try context.parameters.require("model")
        var version: Int?
        if let v = context.parameters.get("version") {
            guard let n = Int(v), n >= 1 else { throw APIError.notFound("model \(quoted(name)) has no version \(quoted(v)); versions are positive integers") }
            version = n
        }
        return try store.resolve(name, version: version)
    }

    private func metadata(_ serving: ServingModel) throws -> Response {
        let d = serving.descriptor
        let tensors: (String, String, [Int]) -> [String: Any] = { ["name": $0, "datatype": $1, "shape": $2] }
        var parameters: [String: Any] = ["labels": d.labels, "version": String(d.version)]
        if let e = serving.reversibilityError { parameters["reversibility_error"] = Double(e) }
        parameters["architecture"] = d.architecture
        if let plugin = d.plugin { parameters["plugin"] = plugin }
        return json([
            "name": d.name, "versions": (store.entry(d.name)?.ready ?? [d.version]).map(String.init), "platform": d.platform,
            "inputs": [tensors("image", "BYTES", [-1]), tensors("input", "FP32", [-1] + d.inputShape)],
            "outputs": [tensors("logits", "FP32", [-1, d.classes]), tensors("probabilities", "FP32", [-1, d.classes])],
            "parameters": parameters,
        ])
    }

    private func statistics(_ models: [ServingModel]) throws -> Response {
        func tally(_ t: StatisticsSnapshot.Tally) -> [String: Any] { ["count": t.count, "ns": t.ns] }
        let stats: [[String: Any]] = models.map { m in
            let s = m.statistics.snapshot
            return [
                "name": m.descriptor.name, "version": String(m.descriptor.version),
                "last_inference": s.lastInference, "inference_count": s.inferenceCount, "execution_count": s.executionCount,
                "inference_stats": [
                    "success": tally(s.success), "fail": tally(s.fail), "queue": tally(s.queue),
                    "compute_input": tally(s.computeInput), "compute_infer": tally(s.computeInfer),
                    "compute_output": tally(s.computeOutput),
                ],
                "batch_stats": s.batches.keys.sorted().map { size in
                    ["batch_size": size, "compute_infer": tally(s.batches[size]!),
                     "compute_input": tally(.init()), "compute_output": tally(.init())] as [String: Any]
                },
            ]
        }
        return json(["model_stats": stats])
    }

    // MARK: inference

    /// Runs an inference endpoint: admission, body (bounded), cancellation when the client goes
    /// away (ClientDeparture), statistics. Inference answers carry `revserve-model-version`; the
    /// connection stays open for the next request once the body has been read to its end.
    private func serve(_ request: Request, _ context: ServerContext, name: String,
                       handler: @escaping @Sendable (Request, ByteBuffer, ServingModel) async throws -> Response) async throws -> Response {
        try state.admitWork()
        // A declared length over the limit is refused before any of the body is awaited (one
        // that is all digits but past Int, 2^63 to 2^64 − 1 which llhttp accepts, is over it too).
        if let text = request.headers[.contentLength] {
            let declared = Int(text) ?? (text.allSatisfy(\.isASCII) && text.allSatisfy(\.isNumber) ? Int.max : nil)
            guard let declared else { throw APIError.badRequest("Content-Length must be a non-negative integer, not \(quoted(text))") }
            if declared > limits.maxBodyBytes {
                throw APIError.tooLarge("the body is \(text) bytes, over the limit of \(limits.maxBodyBytes) (raise the server's --max-body-bytes)")
            }
        }
        let serving = try resolve(context)
        let version = String(serving.descriptor.version)
        let start = BatchScheduler.now()
        // The body's bytes count against --max-inflight-body-bytes until the answer is made.
        let reservation = BodyBudget.Reservation(bodies)
        defer { reservation.release() }
        do {
            let eventLoop = context.channel.eventLoop
            let run: @Sendable () async throws -> Response = {
                let buffer = try await collect(request.body, reservation, on: eventLoop)
                return try await handler(request, buffer, serving)
            }
            var response: Response
            if let departure = ClientDeparture.signal(for: context.channel) {
                response = try await departure.cancellingOnDeparture(run)
            } else {
                response = try await run()
            }
            response.headers[.modelVersion] = version
            return response
        } catch {
            serving.statistics.recordFailure(total: BatchScheduler.now() - start)
            return APIError.from(error).response(version: version)
        }
    }

    /// The whole body, within --max-body-bytes and --request-timeout-ms (a client trickling its
    /// body cannot hold a request open for ever). The deadline is a task scheduled on the
    /// connection's event loop and cancelled on time; a sleeping Swift task per request would
    /// keep its timer (and memory) until the deadline even when cancelled.
    private func collect(_ body: RequestBody, _ reservation: BodyBudget.Reservation, on eventLoop: any EventLoop) async throws -> ByteBuffer {
        let limit = limits.maxBodyBytes, timeout = limits.bodyTimeout
        let collecting = Task {
            var buffer = ByteBuffer()
            for try await chunk in body {
                // Both terms are at most --max-body-bytes (≤ 4 GiB): the sum cannot overflow.
                guard buffer.readableBytes + chunk.readableBytes <= limit else {
                    throw APIError.tooLarge("the body is over the limit of \(limit) bytes (raise the server's --max-body-bytes)")
                }
                try reservation.take(chunk.readableBytes)
                var chunk = chunk
                buffer.writeBuffer(&chunk)
            }
            BodyRead.markRead()
            return buffer
        }
        let expired = Atomic<Bool>(false)
        let deadline = eventLoop.scheduleTask(in: .nanoseconds(Int64(clamping: timeout))) {
            expired.store(true, ordering: .relaxed)
            collecting.cancel()
        }
        defer { deadline.cancel() }
        do {
            return try await withTaskCancellationHandler { try await collecting.value } onCancel: { collecting.cancel() }
        } catch where expired.load(ordering: .relaxed) {
            throw APIError(.requestTimeout, "the request body did not arrive within \(timeout / 1_000_000) ms (the server's --request-timeout-ms)")
        }
    }

    private func infer(_ request: Request, _ body: ByteBuffer, _ serving: ServingModel) async throws -> Response {
        let start = BatchScheduler.now()
        var headerLength: Int?
        if let h = request.headers[.inferenceHeaderContentLength] {
            guard let n = Int(h.trimmingCharacters(in: .whitespaces)), n >= 0 else {
                throw APIError.badRequest("Inference-Header-Content-Length must be a non-negative integer, not \(quoted(h))")
            }
            headerLength = n
        }
        // Decoding bounds the batch (RequestLimits.checkImages) before anything is sized by it.
        let parsed = try InferRequest.decode(body, headerLength: headerLength, model: serving.descriptor, limits: limits)
        let (result, timings) = try await runner.run(parsed.input, timeout: parsed.timeoutNanos, on: serving)
        let encodeStart = BatchScheduler.now()
        let response = try InferResponse.encode(result, for: parsed, model: serving.descriptor)
        record(serving, images: result.count, start: start, encodeStart: encodeStart, timings)
        return response
    }

    private func classify(_ request: Request, _ body: ByteBuffer, _ serving: ServingModel) async throws -> Response {
        let start = BatchScheduler.now()
        let top = try ClassifyRequest.top(request.uri.queryParameters["top"].map(String.init), classes: serving.descriptor.classes)
        let images = try ClassifyRequest.images(body, contentType: request.headers[.contentType], maxImages: limits.maxImagesPerRequest)
        try limits.checkImages(images.count, inputSize: serving.descriptor.inputSize)
        let (result, timings) = try await runner.run(.images(images.map(\.bytes)), names: images.map(\.name),
                                                     timeout: nil, on: serving)
        let encodeStart = BatchScheduler.now()
        let response = try ClassifyRequest.response(result, top: top, model: serving.descriptor)
        record(serving, images: result.count, start: start, encodeStart: encodeStart, timings)
        return response
    }

    private func record(_ serving: ServingModel, images: Int, start: UInt64, encodeStart: UInt64, _ t: ModelRunner.Timings) {
        let end = BatchScheduler.now()
        serving.statistics.recordSuccess(images: images, total: end - start, queue: t.queue, input: t.input, infer: t.infer,
                                         output: end - encodeStart, epochMilliseconds: UInt64(Date().timeIntervalSince1970 * 1000))
    }
}

/// A 200 JSON response from a JSON-compatible value.
func json(_ value: Any, status: HTTPResponse.Status = .ok) -> Response {
    let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])) ?? Data("{}".utf8)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
