#!/usr/bin/env python3
"""Makes the PNG decoding fixtures: every colour type and bit depth revserve decodes, written by
an encoder independent of libpng (pypng, Debian's python3-png), plus expected.json with the
samples a decoder must produce after revserve's expansion rules:

- gray below 8 bits is scaled to 8 bits: v * 255 // (2**depth - 1);
- a palette becomes RGB, or RGBA when it has a tRNS chunk (entries past tRNS are opaque);
- a tRNS colour on gray or RGB images becomes an alpha channel (0 where the colour matches);
- 16-bit samples stay 16-bit.

Run from this directory: /usr/bin/python3 make_png_fixtures.py  (needs python3-png).
The fixtures are committed; the tests do not run this script.
"""
import json
import random

import png

random.seed(7)
W, H = 7, 5          # odd sizes exercise interlacing passes and row padding
out = {}


def samples(depth, count):
    return [random.randrange(0, 2 ** depth) for _ in range(count)]


def rows(flat, per_row):
    return [flat[i:i + per_row] for i in range(0, len(flat), per_row)]


def save(name, writer, flat, per_row, expected, channels, bit_depth):
    with open(f"png/{name}.png", "wb") as f:
        writer.write(f, rows(flat, per_row))
    out[name] = {"width": W, "height": H, "channels": channels, "bitDepth": bit_depth, "samples": expected}


for interlace in (False, True):
    tag = "-interlaced" if interlace else ""
    # Gray at every depth.
    for depth in (1, 2, 4, 8, 16):
        flat = samples(depth, W * H)
        scaled = flat if depth >= 8 else [v * 255 // (2 ** depth - 1) for v in flat]
        save(f"gray{depth}{tag}", png.Writer(W, H, greyscale=True, bitdepth=depth, interlace=interlace),
             flat, W, scaled, 1, 16 if depth == 16 else 8)
    # Gray + alpha, RGB, RGBA at 8 and 16 bits.
    for depth in (8, 16):
        for name, channels, kwargs in (("graya", 2, dict(greyscale=True, alpha=True)),
                                       ("rgb", 3, dict(greyscale=False)),
                                       ("rgba", 4, dict(greyscale=False, alpha=True))):
            flat = samples(depth, W * H * channels)
            save(f"{name}{depth}{tag}", png.Writer(W, H, bitdepth=depth, interlace=interlace, **kwargs),
                 flat, W * channels, flat, channels, depth)
    # Palettes at every depth, with and without tRNS.
    for depth in (1, 2, 4, 8):
        entries = min(2 ** depth, 12)
        for transparent in (False, True):
            palette = []
            for i in range(entries):
                rgb = (random.randrange(256), random.randrange(256), random.randrange(256))
                # The tRNS table may be shorter than the palette: the last entries stay opaque.
                palette.append(rgb + (random.randrange(256),) if transparent and i < entries - 1 else rgb)
            if transparent:
                palette = [p if len(p) == 4 else p + (255,) for p in palette]
                # pypng writes tRNS for the entries before the first opaque tail.
            flat = [random.randrange(entries) for _ in range(W * H)]
            channels = 4 if transparent else 3
            expected = [c for i in flat for c in palette[i][:channels]]
            suffix = "-trns" if transparent else ""
            save(f"palette{depth}{suffix}{tag}", png.Writer(W, H, palette=palette, bitdepth=depth, interlace=interlace),
                 flat, W, expected, channels, 8)
    # A tRNS colour on gray and RGB images.
    flat = samples(8, W * H)
    key = flat[3]
    save(f"gray8-trns{tag}", png.Writer(W, H, greyscale=True, bitdepth=8, transparent=key, interlace=interlace),
         flat, W, [c for v in flat for c in (v, 0 if v == key else 255)], 2, 8)
    flat = samples(8, W * H * 3)
    key = tuple(flat[0:3])
    pixels = [tuple(flat[i:i + 3]) for i in range(0, len(flat), 3)]
    save(f"rgb8-trns{tag}", png.Writer(W, H, greyscale=False, bitdepth=8, transparent=key, interlace=interlace),
         flat, W * 3, [c for p in pixels for c in p + ((0,) if p == key else (255,))], 4, 8)

with open("png/expected.json", "w") as f:
    json.dump(out, f, indent=0, sort_keys=True)
print(f"wrote {len(out)} fixtures")
