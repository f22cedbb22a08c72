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
        guard case .images(let images) = request.input else { return [] }
        // What the infer route checks next, before any image is decoded.
        try RequestLimits.checkPixelBudget(images, maxImagePixels: limits.maxImagePixels)
        return images
    }

    /// The images of a classify body with this content type.
    public static func classifyImages(_ body: [UInt8], contentType: String?, limits: RequestLimits = RequestLimits()) throws -> [[UInt8]] {
        let images = try ClassifyRequest.images(ByteBuffer(bytes: body), contentType: contentType, maxImages: limits.maxImagesPerRequest).map(\.bytes)
        try RequestLimits.checkPixelBudget(images, maxImagePixels: limits.maxImagePixels)
        return images
    }
}
