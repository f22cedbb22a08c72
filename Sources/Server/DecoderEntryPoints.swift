// DecoderEntryPoints: the server's request decoders, callable on raw bytes from outside the
// module (the fuzz targets), without making the codec types themselves public.

import Inference
import NIOCore

public enum DecoderEntryPoints {
    /// Decodes an infer request body as the infer route does; returns the encoded images it
    /// carries (none for an FP32 input). Throws what the route would answer with.
    public static func inferRequest(_ body: [UInt8], headerLength: Int?, model: ModelDescriptor,
                                    limits: RequestLimits = RequestLimits()) throws -> [[UInt8]] {
        let request = try InferRequest.decode(ByteBuffer(bytes: body), headerLength: headerLength, model: model, limits: limits)
        if case .images(let images) = request.input { return images }
        return []
    }

    /// The images of a classify body with this content type.
    public static func classifyImages(_ body: [UInt8], contentType: String?) throws -> [[UInt8]] {
        try ClassifyRequest.images(ByteBuffer(bytes: body), contentType: contentType).map(\.bytes)
    }
}
