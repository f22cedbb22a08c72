#!/usr/bin/env python3
"""Exports the first Fashion-MNIST test image of each class as a PNG, for `make demo`.

Reads Debian's dataset-fashion-mnist files and writes 8-bit grayscale PNGs with pypng
(python3-png). Run from this directory: /usr/bin/python3 make_samples.py
"""
import gzip
import struct

import png

ROOT = "/usr/share/datasets/fashion-mnist"
CLASSES = ["tshirt-top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]

with gzip.open(f"{ROOT}/t10k-images-idx3-ubyte.gz") as f:
    _, n, h, w = struct.unpack(">IIII", f.read(16))
    pixels = f.read(n * h * w)
with gzip.open(f"{ROOT}/t10k-labels-idx1-ubyte.gz") as f:
    f.read(8)
    labels = f.read(n)

done = set()
for i, label in enumerate(labels):
    if label in done:
        continue
    done.add(label)
    image = pixels[i * h * w:(i + 1) * h * w]
    with open(f"{i:04d}-{CLASSES[label]}.png", "wb") as out:
        png.Writer(w, h, greyscale=True, bitdepth=8).write(out, [image[r * w:(r + 1) * w] for r in range(h)])
    if len(done) == len(CLASSES):
        break
print(f"wrote {len(done)} samples")
