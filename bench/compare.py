"""Side by side: revserve against PyTorch and ONNX Runtime on the same machine, in the same run.

Run by bench/compare.sh (which makes the venv); prints markdown tables (docs/BENCHMARKS.md) and
writes every raw figure to .build-bench/results.json. Contenders alternate within each round and
every figure is the median over rounds of per-run medians, because this machine's speed drifts.

  python bench/compare.py [--revserve BIN] [--rounds 3] [--sections check,infer,train,serve]
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MEASURE = os.path.join(HERE, "anchors", "measure.py")
CORES = os.cpu_count() or 1

PRESETS = {  # NETWORKS.md §4
    "hamiltonian-74": {"arch": "hamiltonian", "units": [6, 6, 6], "channels": [32, 64, 112]},
    "hamiltonian-218": {"arch": "hamiltonian", "units": [18, 18, 18], "channels": [32, 64, 128]},
    "hamiltonian-1202": {"arch": "hamiltonian", "units": [100, 100, 100], "channels": [32, 64, 128]},
    "midpoint-26": {"arch": "midpoint", "units": [4, 4, 4], "channels": [32, 64, 112]},
    "leapfrog-26": {"arch": "leapfrog", "units": [4, 4, 4], "channels": [32, 64, 112]},
}
INPUT = [3, 32, 32]


def shape_of(preset):
    return dict(PRESETS[preset], input=INPUT, classes=10, h=0.1)


def run_json(cmd, **kwargs):
    """Runs a command that prints JSON (the last JSON document on stdout) and returns it."""
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs).stdout
    start = out.rfind("\n{")
    return json.loads(out[start + 1:] if start >= 0 else out)


def python(*args):
    return [sys.executable, MEASURE, *args]


class Bench:
    def __init__(self, args, work):
        self.revserve, self.rounds, self.work = args.revserve, args.rounds, work
        self.train_presets = args.train_presets.split(",")
        self.results = {"machine": machine(), "check": [], "infer": [], "train": [], "serve": []}

    # -- 1. same logits --------------------------------------------------------------------
    def checkpoint(self, preset):
        path = os.path.join(self.work, f"{preset}.h5")
        if not os.path.exists(path):
            subprocess.run([self.revserve, "train", "--preset", preset, "--dataset", "synthetic",
                            "--max-steps", "3", "--batch-size", "8", "--seed", "1", "--out", path],
                           check=True, capture_output=True)
        return path

    def images(self):
        from PIL import Image
        import numpy as np
        rng = np.random.default_rng(7)
        paths = []
        for i in range(8):
            p = os.path.join(self.work, f"image{i}.png")
            # smooth random images (like photos, unlike noise) so that logits vary by image
            small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(small).resize((32, 32), Image.BILINEAR).save(p)
            paths.append(p)
        return paths

    def check(self):
        cases = [(p, self.checkpoint(p), self.images()) for p in ("hamiltonian-74", "midpoint-26", "leapfrog-26")]
        samples = sorted(os.path.join(ROOT, "samples", f) for f in os.listdir(os.path.join(ROOT, "samples")) if f.endswith(".png"))
        cases += [(f"bundled {m}", os.path.join(ROOT, "models", m, "1", "model.h5"), samples)
                  for m in ("hamiltonian", "midpoint", "leapfrog")]
        print("\n### Same logits (max |difference| against `revserve predict`, limit 1e-4)\n")
        print("| model | images | PyTorch | ONNX Runtime | largest logit magnitude |")
        print("|---|---|---|---|---|")
        worst = 0.0
        for name, checkpoint, images in cases:
            r = run_json(python("check", "--checkpoint", checkpoint, "--revserve", self.revserve, *images))
            r["model"] = name
            self.results["check"].append(r)
            worst = max(worst, r["maxAbsTorchVsRevserve"], r["maxAbsOrtVsRevserve"])
            print(f"| {name} | {r['images']} | {r['maxAbsTorchVsRevserve']:.1e} | {r['maxAbsOrtVsRevserve']:.1e} "
                  f"| {r['maxAbsLogit']:.2f} |", flush=True)
        if worst > 1e-4:
            raise SystemExit(f"logits differ by {worst:.2e} > 1e-4: the anchors do not compute the same network")

    # -- 2. inference ----------------------------------------------------------------------
    def onnx(self, preset):
        path = os.path.join(self.work, f"{preset}.onnx")
        if not os.path.exists(path):
            subprocess.run(python("export", "--shape", json.dumps(shape_of(preset)), "--out", path),
                           check=True, capture_output=True)
        return path

    def infer(self):
        print("\n### Inference, 3×32×32, images/s (median of rounds; ratio = revserve / best anchor)\n")
        print("| model | batch | threads | revserve | PyTorch | ONNX Runtime | ratio | revserve ms/batch | ORT ms/batch |")
        print("|---|---|---|---|---|---|---|---|---|")
        for preset in ("hamiltonian-74", "midpoint-26", "leapfrog-26"):
            shape, onnx = json.dumps(shape_of(preset)), self.onnx(preset)
            for batch in (1, 8, 64):
                for threads in sorted({1, CORES}):
                    repeats = {1: 50, 8: 12, 64: 5}[batch]
                    runs = {"revserve": [], "torch": [], "ort": []}
                    for _ in range(self.rounds):
                        runs["revserve"].append(run_json([
                            self.revserve, "bench", "infer", "--preset", preset, "--input", "3,32,32",
                            "--batch", str(batch), "--threads", str(threads), "--repeats", str(repeats), "--json"]))
                        common = ["--shape", shape, "--batch", str(batch), "--threads", str(threads),
                                  "--repeats", str(repeats)]
                        runs["torch"].append(run_json(python("infer", "--engine", "torch", *common)))
                        runs["ort"].append(run_json(python("infer", "--engine", "ort", "--onnx", onnx, *common)))
                    ips = {k: statistics.median(r["imagesPerSecond"] for r in v) for k, v in runs.items()}
                    row = {"model": preset, "batch": batch, "threads": threads, "imagesPerSecond": ips,
                           "ratio": ips["revserve"] / max(ips["torch"], ips["ort"])}
                    self.results["infer"].append(row)
                    print(f"| {preset} | {batch} | {threads} | {ips['revserve']:.1f} | {ips['torch']:.1f} "
                          f"| {ips['ort']:.1f} | **{row['ratio']:.2f}×** | {1000 * batch / ips['revserve']:.2f} "
                          f"| {1000 * batch / ips['ort']:.2f} |", flush=True)

    # -- 3. training -----------------------------------------------------------------------
    def train(self):
        print(f"\n### Training, batch 100, 3×32×32, {CORES} threads: images/s and peak resident MiB\n")
        print("| model | revserve reversible | revserve standard | PyTorch | speed ratio (reversible / PyTorch) "
              "| peak MiB reversible / standard / PyTorch | memory ratio (reversible / PyTorch) "
              "| activations MiB reversible / PyTorch |")
        print("|---|---|---|---|---|---|---|---|")
        mib = 1 / 1048576
        for preset in self.train_presets:
            repeats = {"hamiltonian-74": 5, "hamiltonian-218": 3, "hamiltonian-1202": 2}[preset]
            runs = {"reversible": [], "standard": [], "torch": []}
            for _ in range(self.rounds if preset == "hamiltonian-74" else 1):
                for mode in ("reversible", "standard"):
                    runs[mode].append(run_json([
                        self.revserve, "bench", "train", "--preset", preset, "--input", "3,32,32", "--batch", "100",
                        "--threads", str(CORES), "--memory", mode, "--warmup", "1", "--repeats", str(repeats), "--json"]))
                runs["torch"].append(run_json(python(
                    "train", "--shape", json.dumps(shape_of(preset)), "--batch", "100", "--threads", str(CORES),
                    "--warmup", "1", "--repeats", str(repeats))))
            ips = {k: statistics.median(r["imagesPerSecond"] for r in v) for k, v in runs.items()}
            peak = {k: max(r["peakResidentBytes"] for r in v) for k, v in runs.items()}
            rev = runs["reversible"][-1]
            act = {"reversible": rev["activationBytes"],
                   "torch": peak["torch"] - runs["torch"][-1]["baselineResidentBytes"]}
            row = {"model": preset, "imagesPerSecond": ips, "peakResidentBytes": peak, "activationBytes": act,
                   "speedRatio": ips["reversible"] / ips["torch"], "memoryRatio": peak["reversible"] / peak["torch"]}
            self.results["train"].append(row)
            print(f"| {preset} | {ips['reversible']:.1f} | {ips['standard']:.1f} | {ips['torch']:.1f} "
                  f"| **{row['speedRatio']:.2f}×** | {peak['reversible'] * mib:.0f} / {peak['standard'] * mib:.0f} / "
                  f"{peak['torch'] * mib:.0f} | **{row['memoryRatio']:.2f}×** | {act['reversible'] * mib:.0f} / "
                  f"{act['torch'] * mib:.0f} |", flush=True)

    # -- 4. serving ------------------------------------------------------------------------
    def serve(self, seconds):
        repo = os.path.join(self.work, "repo")
        model_dir = os.path.join(repo, "h74", "1")
        os.makedirs(model_dir, exist_ok=True)
        checkpoint = self.checkpoint("hamiltonian-74")
        shutil.copy(checkpoint, os.path.join(model_dir, "model.h5"))
        onnx = os.path.join(self.work, "h74-checkpoint.onnx")
        subprocess.run([sys.executable, "-c", f"""
import sys; sys.path.insert(0, {os.path.join(HERE, 'anchors')!r})
import revnet_torch, measure
model, _, config = revnet_torch.from_checkpoint({checkpoint!r})
measure.export_onnx(model, config['input_shape'], {onnx!r})"""], check=True, capture_output=True)
        image = self.images()[0]
        socket = os.path.join(self.work, "serve.sock")
        servers = {
            "revserve": lambda: [self.revserve, "serve", "--models", repo, "--socket", socket],
            "FastAPI+ORT, 2 workers × 1 thread": lambda: [
                sys.executable, "-m", "uvicorn", "serve_ort:app", "--uds", socket, "--workers", "2",
                "--no-access-log", "--log-level", "warning"],
            "FastAPI+ORT, 1 worker × 2 threads": lambda: [
                sys.executable, "-m", "uvicorn", "serve_ort:app", "--uds", socket, "--workers", "1",
                "--no-access-log", "--log-level", "warning"],
        }
        print(f"\n### Serving hamiltonian-74 (3×32×32), one PNG per request over a Unix socket, {seconds:g} s per run\n")
        print("| server | clients | requests/s | p50 ms | p99 ms | mean batch |")
        print("|---|---|---|---|---|---|")
        for clients in (1, 8, 32):
            for name, command in servers.items():
                env = dict(os.environ, REVSERVE_ONNX=onnx, REVSERVE_CHECKPOINT=checkpoint, REVSERVE_MODEL="h74",
                           ORT_THREADS="2" if "2 threads" in name else "1",
                           PYTHONPATH=os.path.join(HERE, "anchors"))
                with Server(command(), socket, env, self.revserve):
                    r = run_json([self.revserve, "bench", "load", "--socket", socket, "--model", "h74",
                                  "--clients", str(clients), "--seconds", str(seconds), "--warmup", "2", "--json", image])
                r.update(server=name, clients=clients)
                self.results["serve"].append(r)
                print(f"| {name} | {clients} | {r['requestsPerSecond']:.1f} | {r['latencyMs']['p50']:.2f} "
                      f"| {r['latencyMs']['p99']:.2f} | {r['meanBatchSize']:.1f} |", flush=True)
                if r["errors"]:
                    print(f"  ({r['errors']} errors)")


class Server:
    """A server subprocess on a Unix socket, started, waited for (ready) and stopped (SIGTERM)."""

    def __init__(self, command, socket, env, revserve):
        self.command, self.socket, self.env, self.revserve = command, socket, env, revserve

    def __enter__(self):
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        # stderr to a file, never an unread pipe: a full pipe would block the server's logging
        self.log = open(self.socket + ".log", "w+")
        self.process = subprocess.Popen(self.command, env=self.env, stdout=subprocess.DEVNULL,
                                        stderr=self.log, start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise SystemExit(f"{self.command[0]} exited: {self.log.read()[-2000:]}")
            ready = subprocess.run(["curl", "-sf", "--unix-socket", self.socket, "http://localhost/v2/health/ready"],
                                   capture_output=True)
            if ready.returncode == 0:
                return self
            time.sleep(0.2)
        raise SystemExit(f"{self.command} did not become ready")

    def __exit__(self, *_):
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)
        self.log.close()


def machine():
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    import onnxruntime
    import torch
    return {"cpu": model, "cores": CORES, "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M")}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--revserve", default=os.path.join(ROOT, ".build", "release", "revserve"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--serve-seconds", type=float, default=10)
    p.add_argument("--sections", default="check,infer,train,serve")
    p.add_argument("--train-presets", default="hamiltonian-74,hamiltonian-218,hamiltonian-1202")
    args = p.parse_args()
    os.makedirs(os.path.join(ROOT, ".build-bench"), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="revserve-compare-") as work:
        bench = Bench(args, work)
        m = bench.results["machine"]
        print(f"Machine: {m['cpu']}, {m['cores']} cores; PyTorch {m['torch']}, ONNX Runtime {m['onnxruntime']}; {m['date']}")
        for section in args.sections.split(","):
            if section == "serve":
                bench.serve(args.serve_seconds)
            else:
                getattr(bench, section)()
        with open(os.path.join(ROOT, ".build-bench", "results.json"), "w") as f:
            json.dump(bench.results, f, indent=1)


if __name__ == "__main__":
    main()
