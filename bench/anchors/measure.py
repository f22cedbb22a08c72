"""One anchor measurement per process (PyTorch or ONNX Runtime), printed as one JSON line.

Each measurement runs in its own process so that one runtime's thread pool (which may spin after
work) never steals cores from the next contender, and so that peak resident memory is per run.

  measure.py check  --checkpoint F --revserve BIN IMAGE...   logits of PyTorch, ONNX Runtime, revserve
  measure.py export --shape JSON --out model.onnx            an ONNX file of a freshly initialised net
  measure.py infer  --engine torch|ort --shape JSON --batch B --threads T [--onnx F]
  measure.py train  --shape JSON --batch B --threads T       PyTorch autograd + SGD step
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def timed(step, warmup, repeats):
    """Median seconds of `repeats` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def build(shape):
    import revnet_torch
    return revnet_torch.from_shape(shape["arch"], shape["units"], shape["channels"], shape["input"],
                                   shape.get("classes", 10), shape.get("h", 0.1))


def export_onnx(model, input_shape, path):
    import torch
    model.eval()
    example = torch.randn(1, *input_shape)
    torch.onnx.export(model, (example,), path, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                      dynamo=False)


def ort_session(path, threads):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def load_images(paths, config):
    """The images as the model's normalised input (8-bit PNGs, already at the model's size)."""
    from PIL import Image
    c, h, w = config["input_shape"]
    batch = []
    for p in paths:
        image = Image.open(p).convert("RGB" if c == 3 else "L")
        if image.size != (w, h):
            raise SystemExit(f"{p}: {image.size[0]}×{image.size[1]}, the check needs {w}×{h} images")
        a = np.asarray(image, dtype=np.float32) / 255.0
        a = a.reshape(h, w, c).transpose(2, 0, 1)
        mean = np.array(config["mean"], dtype=np.float32).reshape(c, 1, 1)
        std = np.array(config["std"], dtype=np.float32).reshape(c, 1, 1)
        batch.append((a - mean) / std)
    return np.stack(batch).astype(np.float32)


def check(args):
    import torch
    import revnet_torch
    model, arch, config = revnet_torch.from_checkpoint(args.checkpoint)
    x = load_images(args.images, config)
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(x)).numpy()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.onnx")
        export_onnx(model, config["input_shape"], path)
        ort_logits = ort_session(path, 1).run(None, {"input": x})[0]
    out = subprocess.run([args.revserve, "predict", "--checkpoint", args.checkpoint, "--json", *args.images],
                         check=True, capture_output=True, text=True).stdout
    revserve_logits = np.array([r["logits"] for r in json.loads(out)], dtype=np.float32)
    print(json.dumps({
        "architecture": arch, "images": len(args.images),
        "maxAbsTorchVsRevserve": float(np.abs(torch_logits - revserve_logits).max()),
        "maxAbsOrtVsRevserve": float(np.abs(ort_logits - revserve_logits).max()),
        "maxAbsLogit": float(np.abs(revserve_logits).max()),
    }))


def infer(args):
    shape = json.loads(args.shape)
    x = np.random.default_rng(0).standard_normal((args.batch, *shape["input"])).astype(np.float32)
    if args.engine == "torch":
        import torch
        torch.set_num_threads(args.threads)
        torch.set_num_interop_threads(1)
        model = build(shape).eval()
        tx = torch.from_numpy(x)

        def step():
            with torch.no_grad():
                model(tx)
    else:
        session = ort_session(args.onnx, args.threads)

        def step():
            session.run(None, {"input": x})
    seconds = timed(step, args.warmup, args.repeats)
    print(json.dumps({"engine": args.engine, "batch": args.batch, "threads": args.threads,
                      "medianSeconds": seconds, "imagesPerSecond": args.batch / seconds,
                      "peakResidentBytes": peak_rss_bytes()}))


def train(args):
    import torch
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    shape = json.loads(args.shape)
    model = build(shape).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=2e-4)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((args.batch, *shape["input"])).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, shape.get("classes", 10), args.batch))
    baseline = current_rss_bytes()  # runtime + parameters, before any activation exists

    def step():
        optimizer.zero_grad(set_to_none=False)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    seconds = timed(step, args.warmup, args.repeats)
    params = sum(p.numel() for p in model.parameters()) * 4
    print(json.dumps({"engine": "torch", "batch": args.batch, "threads": args.threads,
                      "medianSeconds": seconds, "imagesPerSecond": args.batch / seconds,
                      "peakResidentBytes": peak_rss_bytes(), "baselineResidentBytes": baseline,
                      "parameterBytes": params}))


def main():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check")
    c.add_argument("--checkpoint", required=True)
    c.add_argument("--revserve", required=True)
    c.add_argument("images", nargs="+")
    e = sub.add_parser("export")
    e.add_argument("--shape", required=True)
    e.add_argument("--out", required=True)
    for name in ("infer", "train"):
        s = sub.add_parser(name)
        s.add_argument("--shape", required=True)
        s.add_argument("--batch", type=int, required=True)
        s.add_argument("--threads", type=int, required=True)
        s.add_argument("--warmup", type=int, default=2)
        s.add_argument("--repeats", type=int, default=10)
        if name == "infer":
            s.add_argument("--engine", choices=["torch", "ort"], required=True)
            s.add_argument("--onnx")
    args = p.parse_args()
    if args.command == "check":
        check(args)
    elif args.command == "export":
        export_onnx(build(json.loads(args.shape)), json.loads(args.shape)["input"], args.out)
    elif args.command == "infer":
        infer(args)
    else:
        train(args)


if __name__ == "__main__":
    main()
