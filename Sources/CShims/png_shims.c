// png_shims.c: libpng read and write with every longjmp kept inside this file. libpng reports
// errors by calling an error function that must not return; ours records the message and
// longjmps back to the setjmp frame of the function that started the work.
#include "CShimsPNG.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    jmp_buf jump;
    char *error;
    size_t error_size;
    const uint8_t *data;    // decoding: the input and how far it has been read
    size_t size;
    size_t offset;
    char warning[128];      // the last warning: libpng often explains an error in one
    uint8_t *out;           // encoding: the growing output
    size_t out_size;
    size_t out_capacity;
    int too_large;   /* set before the longjmp that refuses an image over max_pixels */
} rs_png_context;

static void on_error(png_structp png, png_const_charp message) {
    rs_png_context *ctx = (rs_png_context *)png_get_error_ptr(png);
    if (ctx->warning[0] != 0) {
        snprintf(ctx->error, ctx->error_size, "%s (%s)", message, ctx->warning);
    } else {
        snprintf(ctx->error, ctx->error_size, "%s", message);
    }
    longjmp(ctx->jump, 1);
}

// Warnings are not fatal (a bad CRC in a text chunk, say), but the last one is kept: for a bad
// header libpng warns "Image width is zero in IHDR" and then fails with "Invalid IHDR data".
static void on_warning(png_structp png, png_const_charp message) {
    rs_png_context *ctx = (rs_png_context *)png_get_error_ptr(png);
    snprintf(ctx->warning, sizeof ctx->warning, "%s", message);
}

static void read_bytes(png_structp png, png_bytep out, png_size_t length) {
    rs_png_context *ctx = (rs_png_context *)png_get_io_ptr(png);
    if (length > ctx->size - ctx->offset) {
        png_error(png, "truncated PNG data (the file ends inside a chunk)");
    }
    memcpy(out, ctx->data + ctx->offset, length);
    ctx->offset += length;
}

int rs_png_decode(const uint8_t *data, size_t size, uint64_t max_pixels, rs_png_info *info,
                  void **pixels, char *error, size_t error_size) {
    *pixels = NULL;
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        snprintf(error, error_size, "not a PNG file (the 8-byte PNG signature is missing)");
        return -1;
    }
    // The size limit is checked on the raw IHDR (always the first chunk, at byte 8) before
    // libpng reads further: whatever follows the header, a huge image is refused first.
    if (size >= 24 && memcmp(data + 12, "IHDR", 4) == 0) {
        uint64_t w = png_get_uint_32(data + 16), h = png_get_uint_32(data + 20);
        if (w * h > max_pixels) {
            snprintf(error, error_size, "image is %llux%llu = %llu pixels, above the limit of %llu pixels",
                     (unsigned long long)w, (unsigned long long)h, (unsigned long long)(w * h),
                     (unsigned long long)max_pixels);
            return -2;
        }
    }
    rs_png_context ctx = {0};
    ctx.error = error;
    ctx.error_size = error_size;
    ctx.data = data;
    ctx.size = size;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    if (png == NULL) {
        snprintf(error, error_size, "libpng could not start (out of memory)");
        return -1;
    }
    png_infop pinfo = png_create_info_struct(png);
    // Written after setjmp and read after a longjmp, so volatile.
    uint8_t *volatile buffer = NULL;
    png_bytep *volatile rows = NULL;
    if (pinfo == NULL || setjmp(ctx.jump)) {
        if (pinfo == NULL) snprintf(error, error_size, "libpng could not start (out of memory)");
        png_destroy_read_struct(&png, pinfo ? &pinfo : NULL, NULL);
        free(buffer);
        free(rows);
        return ctx.too_large ? -2 : -1;
    }
    png_set_read_fn(png, &ctx, read_bytes);
    // Ancillary chunks are capped so that a compressed text or ICC chunk cannot balloon.
    png_set_chunk_malloc_max(png, 8u << 20);
    png_read_info(png, pinfo);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, pinfo, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    if ((uint64_t)width * (uint64_t)height > max_pixels) {
        snprintf(error, error_size, "image is %ux%u = %llu pixels, above the limit of %llu pixels",
                 (unsigned)width, (unsigned)height, (unsigned long long)width * height,
                 (unsigned long long)max_pixels);
        ctx.too_large = 1;
        longjmp(ctx.jump, 1);
    }
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, pinfo, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (bit_depth == 16) {
        const uint16_t probe = 1;
        if (*(const uint8_t *)&probe == 1) png_set_swap(png);   // PNG is big-endian
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, pinfo);

    int channels = png_get_channels(png, pinfo);
    int out_depth = png_get_bit_depth(png, pinfo);
    size_t row_bytes = png_get_rowbytes(png, pinfo);
    buffer = (uint8_t *)malloc(row_bytes * height);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * height);
    if (buffer == NULL || rows == NULL) {
        snprintf(error, error_size, "out of memory for a %ux%u image", (unsigned)width, (unsigned)height);
        longjmp(ctx.jump, 1);
    }
    for (png_uint_32 y = 0; y < height; y++) rows[y] = buffer + y * row_bytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &pinfo, NULL);
    free(rows);

    info->width = width;
    info->height = height;
    info->channels = channels;
    info->bit_depth = out_depth;
    info->color_type = color_type;
    info->file_bit_depth = bit_depth;
    info->interlaced = interlace != PNG_INTERLACE_NONE;
    *pixels = buffer;
    return 0;
}

static void write_bytes(png_structp png, png_bytep data, png_size_t length) {
    rs_png_context *ctx = (rs_png_context *)png_get_io_ptr(png);
    if (ctx->out_size + length > ctx->out_capacity) {
        size_t capacity = ctx->out_capacity ? ctx->out_capacity : 4096;
        while (capacity < ctx->out_size + length) capacity *= 2;
        uint8_t *grown = (uint8_t *)realloc(ctx->out, capacity);
        if (grown == NULL) png_error(png, "out of memory while encoding");
        ctx->out = grown;
        ctx->out_capacity = capacity;
    }
    memcpy(ctx->out + ctx->out_size, data, length);
    ctx->out_size += length;
}

static void flush_bytes(png_structp png) { (void)png; }

int rs_png_encode(const void *pixels, uint32_t width, uint32_t height, int channels, int bit_depth,
                  int interlaced, uint8_t **out, size_t *out_size, char *error, size_t error_size) {
    static const int color_types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                       PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    *out = NULL;
    *out_size = 0;
    if (channels < 1 || channels > 4 || (bit_depth != 8 && bit_depth != 16) || width == 0 || height == 0) {
        snprintf(error, error_size, "cannot encode %ux%u with %d channels at %d bits",
                 (unsigned)width, (unsigned)height, channels, bit_depth);
        return -1;
    }
    rs_png_context ctx = {0};
    ctx.error = error;
    ctx.error_size = error_size;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    if (png == NULL) {
        snprintf(error, error_size, "libpng could not start (out of memory)");
        return -1;
    }
    png_infop pinfo = png_create_info_struct(png);
    png_bytep *volatile rows = NULL;
    if (pinfo == NULL || setjmp(ctx.jump)) {
        if (pinfo == NULL) snprintf(error, error_size, "libpng could not start (out of memory)");
        png_destroy_write_struct(&png, pinfo ? &pinfo : NULL);
        free(rows);
        free(ctx.out);
        return -1;
    }
    png_set_write_fn(png, &ctx, write_bytes, flush_bytes);
    png_set_IHDR(png, pinfo, width, height, bit_depth, color_types[channels],
                 interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, pinfo);
    if (bit_depth == 16) {
        const uint16_t probe = 1;
        if (*(const uint8_t *)&probe == 1) png_set_swap(png);
    }
    int passes = png_set_interlace_handling(png);
    size_t row_bytes = (size_t)width * channels * (bit_depth / 8);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * height);
    if (rows == NULL) png_error(png, "out of memory while encoding");
    for (uint32_t y = 0; y < height; y++) rows[y] = (png_bytep)pixels + y * row_bytes;
    (void)passes;   // png_write_image runs every pass itself
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &pinfo);
    free(rows);
    *out = ctx.out;
    *out_size = ctx.out_size;
    return 0;
}

void rs_png_free(void *buffer) { free(buffer); }
