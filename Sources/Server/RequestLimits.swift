// RequestLimits: what one request may ask of the daemon (docs/SECURITY.md): body size, image
// size, images per request, and how long its body may take to arrive. Each has a flag, and
// each refusal names it.

import Bounds
import Formats
import Inference

public struct RequestLimits: Sendable {
    /// Largest request body (--max-body-bytes).
    public var maxBodyBytes = 64 << 20
    /// Largest decoded image, width × height (--max-image-pixels).
    public var maxImagePixels = PNG.defaultMaxPixels
    /// Most images (or FP32 inputs) in one request (--max-images-per-request).
    public var maxImagesPerRequest = 256
    /// Longest a request body may take to arrive, nanoseconds (--request-timeout-ms).
    public var bodyTimeout: UInt64 = 30_000_000_000
    /// Bytes of request bodies held at once across all connections (--max-inflight-body-bytes).
    public var maxInflightBodyBytes = 512 << 20

    public init() {}

    // The range each flag accepts (the daemon refuses to start outside it).
    public static let maxBodyBytesBound = Bound(1024...(1 << 32), "bytes")
    /// 8192² pixels: a decode holds about 28 bytes per pixel (libpng's rows, the samples and
    /// the float planes), so this is under 2 GiB for the largest image.
    public static let maxImagePixelsBound = Bound(1...(1 << 26), "pixels")
    public static let maxImagesPerRequestBound = Bound(1...4096, "images")
    public static let requestTimeoutMillisecondsBound = Bound(10...3_600_000, "ms")
    /// At least one largest body (checked against --max-body-bytes too), at most 64 GiB.
    public static let maxInflightBodyBytesBound = Bound(1024...(1 << 36), "bytes")

    // Bounds of request fields that have no flag: fixed by the protocol's use, not by a host.
    /// Triton's `timeout` parameter: at most an hour in the queue.
    public static let timeoutBound = Bound(0...3_600_000_000, "microseconds")
    /// A tensor's shape: revserve's inputs have rank 1, 2 or 4.
    public static let maxShapeRank = 8
    /// A request's `id`, echoed in the answer.
    public static let maxIDBytes = 1024

    /// How large an infer request's JSON may be in structure, for a model whose inputs have
    /// `inputSize` values: every value of a full request in JSON, and a little more for names
    /// and parameters.
    func jsonShape(inputSize: Int) -> JSONShapeLimits {
        let values = Checked.product(maxImagesPerRequest, max(1, inputSize)).flatMap { Checked.sum($0, 4096) } ?? Int.max
        return JSONShapeLimits(maxScalars: values)
    }

    /// The pixels all of a request's PNGs declare (read from their headers, before any decoding)
    /// may add up to 4 × --max-image-pixels: one image may be as large as the limit allows, but
    /// a request of many such images would hold the decoding threads for minutes.
    static func checkPixelBudget(_ images: [[UInt8]], maxImagePixels: Int) throws(APIError) {
        let budget = 4 * maxImagePixels   // ≤ 2^28: maxImagePixelsBound
        var total = 0
        for bytes in images {
            guard let (w, h) = PNG.headerSize(bytes) else { continue }   // not a PNG: the decoder says why
            // Each side is up to 2^32 − 1, so the product can pass Int.max; capped at budget + 1
            // so that the sum stays small too.
            total += min(Checked.product(w, h) ?? Int.max, budget + 1)
            if total > budget {
                throw .tooLarge("the request's images hold more than \(budget) pixels in all (4 × the server's --max-image-pixels); send them in several requests")
            }
        }
    }

    /// A request of `n` images (or inputs) for a model taking `inputSize` values each: within
    /// --max-images-per-request, and within one batch's worth of input values (a 70-byte PNG
    /// becomes inputSize floats, so the image count alone does not bound the memory).
    func checkImages(_ n: Int, inputSize: Int) throws(APIError) {
        guard n <= maxImagesPerRequest else {
            throw .tooLarge("the request carries \(n) images; the limit is \(maxImagesPerRequest) (raise the server's --max-images-per-request)")
        }
        guard let values = Checked.product(n, inputSize), values <= BatchingConfiguration.maxBatchInputValues else {
            throw .tooLarge("\(n) inputs of \(inputSize) values are more than \(BatchingConfiguration.maxBatchInputValues) values in one request; send fewer images per request")
        }
    }
}

/// The connection-level limits (--max-connections, --max-header-bytes, --idle-timeout-ms).
public struct ConnectionLimits: Sendable {
    public var maxConnections = 1024
    public var maxHeaderBytes = 16 << 10
    public var idleTimeoutMilliseconds = 60_000
    public init() {}

    public static let maxConnectionsBound = Bound(1...65_536, "connections")
    public static let maxHeaderBytesBound = Bound(1024...(1 << 20), "bytes")
    public static let idleTimeoutMillisecondsBound = Bound(10...86_400_000, "ms")
    /// The request target (path and query): longer ones get 414 before routing.
    public static let maxURIBytes = 8192
}
