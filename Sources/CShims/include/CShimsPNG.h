// CShimsPNG: PNG decoding and encoding through libpng, with libpng's setjmp/longjmp error
// handling contained in C. Swift sees plain functions that return 0 or an error message.
#ifndef REVSERVE_CSHIMS_PNG_H
#define REVSERVE_CSHIMS_PNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t width;
    uint32_t height;
    /// Samples per pixel after expansion: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
    int channels;
    /// 8 or 16: bits per decoded sample (1, 2 and 4-bit images are expanded to 8).
    int bit_depth;
    /// The file's own IHDR values (PNG_COLOR_TYPE_*, 1–16, interlace method).
    int color_type;
    int file_bit_depth;
    int interlaced;
} rs_png_info;

/// Decodes a PNG held in memory. Palettes become RGB, tRNS becomes an alpha channel, gray below
/// 8 bits is scaled to 8 bits, 16-bit samples come out as native-endian uint16, interlaced
/// images are de-interlaced. The header is checked against `max_pixels` (width·height) before
/// any pixel memory is allocated.
/// On success returns 0, fills `info` and sets `*pixels` to a malloc'd buffer of
/// height·width·channels samples (uint8_t or uint16_t by bit_depth), freed with rs_png_free.
/// On failure returns -1 (-2 when the image is over `max_pixels`) and writes a one-line reason
/// (NUL-terminated) into `error`.
int rs_png_decode(const uint8_t *data, size_t size, uint64_t max_pixels, rs_png_info *info,
                  void **pixels, char *error, size_t error_size);

/// Encodes pixels (height·width·channels samples, uint8_t or uint16_t native-endian) as PNG:
/// channels 1–4 (gray, gray+alpha, RGB, RGBA), bit_depth 8 or 16, optionally Adam7-interlaced.
/// On success returns 0 and sets `*out`/`*out_size` to a malloc'd buffer (free with rs_png_free).
int rs_png_encode(const void *pixels, uint32_t width, uint32_t height, int channels, int bit_depth,
                  int interlaced, uint8_t **out, size_t *out_size, char *error, size_t error_size);

void rs_png_free(void *buffer);

#endif
