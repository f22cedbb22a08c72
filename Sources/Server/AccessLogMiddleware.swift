// AccessLogMiddleware: one swift-log line per answered request (method, path, status, bytes,
// duration) and the request counters and duration histogram, labelled by route template.

import Hummingbird
import Inference
import Logging

struct AccessLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = BatchScheduler.now()
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            // The error middleware answers everything; this is only reached for errors thrown
            // outside it, which still get the protocol's answer.
            response = APIError.from(error).response()
        }
        let elapsed = BatchScheduler.now() - start
        let endpoint = context.endpointPath ?? "unmatched"
        metrics.requestFinished(endpoint: endpoint, status: Int(response.status.code), nanoseconds: elapsed)
        logger.info("\(request.method) \(request.uri.path) \(response.status.code)", metadata: [
            "ms": .stringConvertible((Double(elapsed) / 1e6 * 1000).rounded() / 1000),
            "bytes": .stringConvertible(response.body.contentLength ?? -1),
        ])
        return response
    }
}
