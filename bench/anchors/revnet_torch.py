"""The reversible networks of NETWORKS.md as a PyTorch module, loaded from a revserve checkpoint.

Written from the spec (not from revserve's code) so that the side-by-side benchmarks compare
revserve with what a PyTorch user would write: plain autograd, activations stored.
"""

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_checkpoint(path):
    """(architecture, config dict, {weight path: numpy array}) of a checkpoint (CHECKPOINT.md)."""
    with h5py.File(path, "r") as f:
        arch = f.attrs["architecture"]
        arch = arch.decode() if isinstance(arch, bytes) else str(arch)
        c = f["config"].attrs
        config = {
            "input_shape": [int(v) for v in c["input_shape"]],
            "num_classes": int(c["num_classes"]),
            "unit_channels": [int(v) for v in c["unit_channels"]],
            "unit_blocks": [int(v) for v in c["unit_blocks"]],
            "h": float(c["h"]),
            "bn_eps": float(c["bn_eps"]),
            "mean": [float(v) for v in c["mean"]],
            "std": [float(v) for v in c["std"]],
        }
        weights = {}
        f["weights"].visititems(lambda name, obj: weights.__setitem__(name, np.array(obj))
                                if isinstance(obj, h5py.Dataset) else None)
    return arch, config, weights


class Hamiltonian(nn.Module):
    """One unit's blocks: Y ← Y + h K1ᵀσ(K1 Z + b1); Z ← Z − h K2ᵀσ(K2 Y + b2)."""

    def __init__(self, width, blocks, h):
        super().__init__()
        half = width // 2
        self.h = h
        self.K1 = nn.ParameterList([nn.Parameter(torch.empty(half, half, 3, 3)) for _ in range(blocks)])
        self.K2 = nn.ParameterList([nn.Parameter(torch.empty(half, half, 3, 3)) for _ in range(blocks)])
        self.b1 = nn.ParameterList([nn.Parameter(torch.zeros(half)) for _ in range(blocks)])
        self.b2 = nn.ParameterList([nn.Parameter(torch.zeros(half)) for _ in range(blocks)])

    def forward(self, x):
        y, z = x.chunk(2, dim=1)
        for K1, K2, b1, b2 in zip(self.K1, self.K2, self.b1, self.b2):
            y = y + self.h * F.conv_transpose2d(F.relu(F.conv2d(z, K1, b1, padding=1)), K1, padding=1)
            z = z - self.h * F.conv_transpose2d(F.relu(F.conv2d(y, K2, b2, padding=1)), K2, padding=1)
        return torch.cat([y, z], dim=1)

    def pad(self, x, extra):
        y, z = x.chunk(2, dim=1)
        p = extra // 4
        return torch.cat([F.pad(y, (0, 0, 0, 0, p, p)), F.pad(z, (0, 0, 0, 0, p, p))], dim=1)

    def load(self, w, prefix):
        for j in range(len(self.K1)):
            for name in ("K1", "K2", "b1", "b2"):
                getattr(self, name)[j].data.copy_(torch.from_numpy(w[f"{prefix}/{j}/{name}"]))


class TwoStep(nn.Module):
    """Midpoint or Leapfrog: one K, b per block; a start-up step, then the two-step recursion."""

    def __init__(self, width, blocks, h, kind):
        super().__init__()
        self.h, self.kind = h, kind
        self.K = nn.ParameterList([nn.Parameter(torch.empty(width, width, 3, 3)) for _ in range(blocks)])
        self.b = nn.ParameterList([nn.Parameter(torch.zeros(width)) for _ in range(blocks)])

    def residual(self, y, K, b):
        if self.kind == "midpoint":  # F(Y) = σ(K Y − Kᵀ Y + b)
            return F.relu(F.conv2d(y, K, b, padding=1) - F.conv_transpose2d(y, K, padding=1))
        return F.conv_transpose2d(F.relu(F.conv2d(y, K, b, padding=1)), K, padding=1)  # G(Y) = Kᵀσ(KY + b)

    def forward(self, y0):
        h = self.h
        r = self.residual(y0, self.K[0], self.b[0])
        prev, cur = y0, (y0 + h * r if self.kind == "midpoint" else y0 - h * h * r)
        for K, b in zip(list(self.K)[1:], list(self.b)[1:]):
            r = self.residual(cur, K, b)
            nxt = prev + 2 * h * r if self.kind == "midpoint" else 2 * cur - prev - h * h * r
            prev, cur = cur, nxt
        return cur

    def pad(self, x, extra):
        p = extra // 2
        return F.pad(x, (0, 0, 0, 0, p, p))

    def load(self, w, prefix):
        for j in range(len(self.K)):
            self.K[j].data.copy_(torch.from_numpy(w[f"{prefix}/{j}/K"]))
            self.b[j].data.copy_(torch.from_numpy(w[f"{prefix}/{j}/b"]))


class RevNet(nn.Module):
    """stem → units with transitions (2×2 average pool + symmetric zero channels) → head."""

    def __init__(self, arch, config):
        super().__init__()
        c_in = config["input_shape"][0]
        widths, blocks, h, eps = config["unit_channels"], config["unit_blocks"], config["h"], config["bn_eps"]
        self.stem_conv = nn.Conv2d(c_in, widths[0], 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(widths[0], eps=eps, momentum=0.1)
        if arch == "hamiltonian":
            self.units = nn.ModuleList([Hamiltonian(w, b, h) for w, b in zip(widths, blocks)])
        elif arch in ("midpoint", "leapfrog"):
            self.units = nn.ModuleList([TwoStep(w, b, h, arch) for w, b in zip(widths, blocks)])
        else:
            raise ValueError(f"no PyTorch anchor for architecture '{arch}'")
        self.widths = widths
        self.head_bn = nn.BatchNorm2d(widths[-1], eps=eps, momentum=0.1)
        self.fc = nn.Linear(widths[-1], config["num_classes"])
        for unit in self.units:  # the authors' initialisation, for checkpoints made from scratch
            for p in unit.parameters():
                if p.dim() == 4:
                    nn.init.normal_(p, std=(2.0 / (9 * p.shape[0])) ** 0.5)

    def forward(self, x):
        x = F.relu(self.stem_bn(self.stem_conv(x)))
        for u, unit in enumerate(self.units):
            if u > 0:
                x = unit.pad(F.avg_pool2d(x, 2), self.widths[u] - self.widths[u - 1])
            x = unit(x)
        x = F.relu(self.head_bn(x)).mean(dim=(2, 3))
        return self.fc(x)

    def load(self, w):
        def t(name):
            return torch.from_numpy(w[name])
        with torch.no_grad():
            self.stem_conv.weight.copy_(t("stem/conv/weight"))
            for bn, prefix in ((self.stem_bn, "stem/bn"), (self.head_bn, "head/bn")):
                bn.weight.copy_(t(f"{prefix}/weight"))
                bn.bias.copy_(t(f"{prefix}/bias"))
                bn.running_mean.copy_(t(f"{prefix}/running_mean"))
                bn.running_var.copy_(t(f"{prefix}/running_var"))
            self.fc.weight.copy_(t("head/fc/weight"))
            self.fc.bias.copy_(t("head/fc/bias"))
            for u, unit in enumerate(self.units):
                unit.load(w, f"units/{u}/blocks")
        return self


def from_checkpoint(path):
    """(module in eval mode with the checkpoint's weights, architecture, config)."""
    arch, config, weights = read_checkpoint(path)
    return RevNet(arch, config).load(weights).eval(), arch, config


def from_shape(arch, units, channels, input_shape, classes=10, h=0.1):
    """A freshly initialised module of the given shape (for throughput, like `revserve bench`)."""
    config = {"input_shape": input_shape, "num_classes": classes, "unit_channels": channels,
              "unit_blocks": units, "h": h, "bn_eps": 1e-5}
    return RevNet(arch, config)
