// RequestLimits: what one request may ask of the daemon (docs/SECURITY.md): body size, image
// size, images per request, and how long its body may take to arrive. Each has a flag, and
// each refusal names it.

import Formats

public struct RequestLimits: Sendable {
    /// Largest request body (--max-body-bytes).
    public var maxBodyBytes = 64 << 20
    /// Largest decoded image, width × height (--max-image-pixels).
    public var maxImagePixels = PNG.defaultMaxPixels
    /// Most images (or FP32 inputs) in one request (--max-images-per-request).
    public var maxImagesPerRequest = 256
    /// Longest a request body may take to arrive, nanoseconds (--request-timeout-ms).
    public var bodyTimeout: UInt64 = 30_000_000_000

    public init() {}

    func checkImages(_ n: Int) throws(APIError) {
        guard n <= maxImagesPerRequest else {
            throw .tooLarge("the request carries \(n) images; the limit is \(maxImagesPerRequest) (raise the server's --max-images-per-request)")
        }
    }
}

/// The connection-level limits (--max-connections, --max-header-bytes, --idle-timeout-ms).
public struct ConnectionLimits: Sendable {
    public var maxConnections = 1024
    public var maxHeaderBytes = 16 << 10
    public var idleTimeoutMilliseconds = 60_000
    public init() {}
}
