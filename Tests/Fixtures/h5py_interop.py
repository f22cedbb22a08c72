#!/usr/bin/env python3
"""Checkpoint interoperability with h5py (Debian's python3-h5py), used by the tests.

  h5py_interop.py check FILE   checks every path, type and shape of docs/spec/CHECKPOINT.md in a file
                               revserve wrote; prints "ok" or the first problem and exits 1.
  h5py_interop.py write FILE   writes a small Hamiltonian checkpoint from a PyTorch-style
                               state_dict (numpy arrays under nn.Module names), the way a user
                               converts a model trained elsewhere.
"""
import sys

import h5py
import numpy as np


def block_params(arch, width):
    if arch == "hamiltonian":
        c = width // 2
        return {"K1": (c, c, 3, 3), "K2": (c, c, 3, 3), "b1": (c,), "b2": (c,)}
    return {"K": (width, width, 3, 3), "b": (width,)}


def expected_weights(f):
    arch = f.attrs["architecture"]
    arch = arch.decode() if isinstance(arch, bytes) else arch
    cfg = f["config"].attrs
    c_in = int(cfg["input_shape"][0])
    widths, blocks = [int(v) for v in cfg["unit_channels"]], [int(v) for v in cfg["unit_blocks"]]
    k = int(cfg["num_classes"])
    shapes = {"stem/conv/weight": (widths[0], c_in, 3, 3)}
    for prefix, width in (("stem/bn", widths[0]), ("head/bn", widths[-1])):
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}/{name}"] = (width,)
    for u, (width, count) in enumerate(zip(widths, blocks)):
        for j in range(count):
            for name, shape in block_params(arch, width).items():
                shapes[f"units/{u}/blocks/{j}/{name}"] = shape
    shapes["head/fc/weight"] = (k, widths[-1])
    shapes["head/fc/bias"] = (k,)
    return shapes


def check(path):
    with h5py.File(path, "r") as f:
        fmt = f.attrs["format"]
        assert (fmt.decode() if isinstance(fmt, bytes) else fmt) == "revserve.checkpoint", "format"
        assert int(f.attrs["format_version"]) == 1, "format_version"
        cfg = f["config"].attrs
        for name, length in (("input_shape", 3), ("unit_channels", None), ("unit_blocks", None)):
            value = np.asarray(cfg[name])
            assert value.dtype.kind == "i", f"/config {name} must be integers, is {value.dtype}"
            assert length is None or value.shape == (length,), f"/config {name} shape {value.shape}"
        for name in ("h", "bn_eps"):
            assert np.asarray(cfg[name]).dtype == np.float32, f"/config {name} must be float32"
        c_in = int(cfg["input_shape"][0])
        for name in ("mean", "std"):
            assert np.asarray(cfg[name]).shape == (c_in,), f"/config {name} needs {c_in} values"
        labels = f["config/labels"][()]
        assert len(labels) == int(cfg["num_classes"]), "labels count"
        for path_, shape in expected_weights(f).items():
            d = f["weights/" + path_]
            assert d.dtype == np.dtype("<f4"), f"/weights/{path_} is {d.dtype}, not little-endian float32"
            assert d.shape == shape, f"/weights/{path_} has shape {d.shape}, expected {shape}"
            assert np.all(np.isfinite(d[()])), f"/weights/{path_} is not finite"
        extra = set()
        f["weights"].visititems(lambda n, o: extra.add(n) if isinstance(o, h5py.Dataset) else None)
        assert extra == set(expected_weights(f)), f"unexpected datasets {sorted(extra - set(expected_weights(f)))}"
    print("ok")


def write(path):
    rng = np.random.default_rng(5)
    widths, blocks, classes, c_in = [4, 8], [2, 1], 3, 3
    # A PyTorch-style state_dict: module names with dots, as model.state_dict() gives them.
    sd = {"stem.conv.weight": rng.normal(0, 0.3, (widths[0], c_in, 3, 3))}
    for prefix, width in (("stem.bn", widths[0]), ("head.bn", widths[-1])):
        sd[prefix + ".weight"] = rng.uniform(0.5, 1.5, width)
        sd[prefix + ".bias"] = rng.normal(0, 0.1, width)
        sd[prefix + ".running_mean"] = rng.normal(0, 0.2, width)
        sd[prefix + ".running_var"] = rng.uniform(0.5, 2, width)
    for u, (width, count) in enumerate(zip(widths, blocks)):
        for j in range(count):
            for name, shape in block_params("hamiltonian", width).items():
                sd[f"units.{u}.blocks.{j}.{name}"] = rng.normal(0, 0.2, shape)
    sd["head.fc.weight"] = rng.normal(0, 0.5, (classes, widths[-1]))
    sd["head.fc.bias"] = rng.normal(0, 0.1, classes)
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "revserve.checkpoint"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["architecture"] = "hamiltonian"
        cfg = f.create_group("config")
        cfg.attrs["input_shape"] = np.array([c_in, 8, 8], dtype=np.int64)
        cfg.attrs["num_classes"] = np.int64(classes)
        cfg.attrs["unit_channels"] = np.array(widths, dtype=np.int64)
        cfg.attrs["unit_blocks"] = np.array(blocks, dtype=np.int64)
        cfg.attrs["h"] = np.float32(0.2)
        cfg.attrs["bn_eps"] = np.float32(1e-5)
        cfg.attrs["mean"] = np.array([0.5, 0.4, 0.3], dtype=np.float32)
        cfg.attrs["std"] = np.array([0.25, 0.25, 0.25], dtype=np.float32)
        cfg.create_dataset("labels", data=np.array(["red", "green", "blue"], dtype=h5py.string_dtype()))
        for name, value in sd.items():
            f.create_dataset("weights/" + name.replace(".", "/"), data=np.asarray(value, dtype="<f4"))


if __name__ == "__main__":
    {"check": check, "write": write}[sys.argv[1]](sys.argv[2])
