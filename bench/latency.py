"""latency.py: what one client sees, and what a load or a swap costs the others (docs/BENCHMARKS.md).

Sections (each prints a markdown table; run with the bench venv's python, see bench/compare.sh):
  lone       one client, then 32, classifying PNGs on the bundled `hamiltonian` over the Unix
             socket: per-request connections (`revserve bench load`) and keep-alive connections
             (Python http.client, one per client), for each revserve binary given and for the
             FastAPI + ONNX Runtime anchor (bench/anchors/serve_ort.py, no batching)
  keepalive  requests/s over loopback TCP with wrk (keep-alive), 1 and 32 connections
  isolation  a serving model's latency (4 clients) before and while a large model warms up and a
             checkpoint on which libhdf5 loops is checked
  swap       another model's first request after each of 10 swaps, against its steady latency

Usage: python bench/latency.py --revserve NEW [--revserve OLD ...] [--sections lone,swap] [--seconds 8]
Each --revserve is a binary with its plugins beside it; labels are the binaries' directories.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket as sockets
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PNG = os.path.join(ROOT, "samples", "0018-bag.png")


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


def percentiles(ms):
    s = sorted(ms)
    if not s:
        return {"p50": 0, "p99": 0, "max": 0, "n": 0}
    at = lambda q: s[min(len(s) - 1, int(q * len(s)))]
    return {"p50": at(0.5), "p99": at(0.99), "max": s[-1], "n": len(s)}


class Daemon:
    """`revserve serve` on a temporary socket (and a TCP port), until stopped."""

    def __init__(self, binary, models, extra=()):
        self.dir = tempfile.mkdtemp(prefix="rs-lat-")
        self.socket = os.path.join(self.dir, "rs.sock")
        with sockets.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.process = subprocess.Popen([binary, "serve", "--models", models, "--socket", self.socket,
                                         "--listen", f"tcp://127.0.0.1:{self.port}", *extra],
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_ready(self.socket, self.process)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_ready(path, process, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited: {process.args}")
        try:
            c = UnixConnection(path, timeout=2)
            c.request("GET", "/v2/health/ready")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{process.args} never became ready")


def classify_loop(path, model, body, seconds, keep_alive, out, stop=None):
    """One client: requests one after another for `seconds` (or until `stop` is set)."""
    headers = {"Content-Type": "image/png"}
    if not keep_alive:
        headers["Connection"] = "close"
    conn = UnixConnection(path)
    end = time.time() + seconds
    while time.time() < end and not (stop and stop.is_set()):
        start = time.perf_counter()
        try:
            conn.request("POST", f"/v2/models/{model}/classify", body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            ok = r.status == 200
        except (OSError, http.client.HTTPException):
            ok = False
        if not keep_alive or r.getheader("Connection", "").lower() == "close" or not ok:
            conn.close()
            conn = UnixConnection(path)
        out.append(((time.perf_counter() - start) * 1000, ok, start))
    conn.close()


def drive(path, model, clients, seconds, keep_alive, warmup=1.0):
    body = open(PNG, "rb").read()
    warm = []
    classify_loop(path, model, body, warmup, keep_alive, warm)
    results = [[] for _ in range(clients)]
    threads = [threading.Thread(target=classify_loop, args=(path, model, body, seconds, keep_alive, results[i]))
               for i in range(clients)]
    start = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - start
    ok = [ms for r in results for (ms, good, _) in r if good]
    errors = sum(1 for r in results for (_, good, _) in r if not good)
    return dict(percentiles(ok), rps=len(ok) / elapsed, errors=errors)


def stats(path, model):
    c = UnixConnection(path)
    c.request("GET", f"/v2/models/{model}/stats")
    s = json.loads(c.getresponse().read())["model_stats"][0]
    return s["inference_count"], s["execution_count"]


def bundled_repository(names=("hamiltonian",)):
    repo = tempfile.mkdtemp(prefix="rs-repo-")
    for name in names:
        os.makedirs(os.path.join(repo, name, "1"))
        shutil.copy(os.path.join(ROOT, "models", name, "1", "model.h5"), os.path.join(repo, name, "1", "model.h5"))
    return repo


# -- lone: one client and 32 ----------------------------------------------------------------

def ort_server(socket_path, workers, threads, work):
    onnx = os.path.join(work, "hamiltonian.onnx")
    checkpoint = os.path.join(ROOT, "models", "hamiltonian", "1", "model.h5")
    if not os.path.exists(onnx):
        subprocess.run([sys.executable, "-c", f"""
import sys; sys.path.insert(0, {os.path.join(HERE, 'anchors')!r})
import revnet_torch, measure
model, _, config = revnet_torch.from_checkpoint({checkpoint!r})
measure.export_onnx(model, config['input_shape'], {onnx!r})"""], check=True, capture_output=True)
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    env = dict(os.environ, REVSERVE_ONNX=onnx, REVSERVE_CHECKPOINT=checkpoint, REVSERVE_MODEL="hamiltonian",
               ORT_THREADS=str(threads), PYTHONPATH=os.path.join(HERE, "anchors"))
    p = subprocess.Popen([sys.executable, "-m", "uvicorn", "serve_ort:app", "--uds", socket_path, "--workers", str(workers),
                          "--no-access-log", "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    wait_ready(socket_path, p)
    return p


def lone(binaries, seconds):
    work = tempfile.mkdtemp(prefix="rs-lone-")
    repo = bundled_repository()
    print(f"\n### One client, then 32, classifying PNGs on the bundled hamiltonian (Unix socket, {seconds:g} s per run)\n")
    print("| server | clients | connections | requests/s | p50 ms | p99 ms | mean batch |")
    print("|---|---|---|---|---|---|---|")
    for clients in (1, 32):
        rows = []
        for label, binary in binaries:
            d = Daemon(binary, repo)
            for keep in (False, True):
                before = stats(d.socket, "hamiltonian")
                r = drive(d.socket, "hamiltonian", clients, seconds, keep)
                after = stats(d.socket, "hamiltonian")
                batches = after[1] - before[1]
                rows.append((label, keep, r, (after[0] - before[0]) / batches if batches else 0))
            d.stop()
        for name, workers, threads in (("FastAPI+ORT, 1 worker × 2 threads", 1, 2), ("FastAPI+ORT, 2 workers × 1 thread", 2, 1)):
            path = os.path.join(work, "ort.sock")
            p = ort_server(path, workers, threads, work)
            for keep in (False, True):
                rows.append((name, keep, drive(path, "hamiltonian", clients, seconds, keep), 1.0))
            os.killpg(p.pid, signal.SIGTERM)
            p.wait()
        for label, keep, r, batch in rows:
            print(f"| {label} | {clients} | {'keep-alive' if keep else 'one per request'} | {r['rps']:.1f} | {r['p50']:.2f} "
                  f"| {r['p99']:.2f} | {batch:.1f} |" + (f" ({r['errors']} errors)" if r["errors"] else ""), flush=True)
    shutil.rmtree(repo)


# -- keepalive: wrk over TCP ------------------------------------------------------------------

WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "image/png"
local f = io.open(os.getenv("RS_PNG"), "rb"); wrk.body = f:read("*all"); f:close()
"""


def keepalive(binaries, seconds):
    if not shutil.which("wrk"):
        print("\n(wrk is not installed: apt-get install wrk)")
        return
    repo = bundled_repository()
    script = os.path.join(repo, "post.lua")
    open(script, "w").write(WRK_LUA)
    print(f"\n### Loopback TCP with wrk (keep-alive), bundled hamiltonian, {seconds:g} s per run\n")
    print("| revserve | connections | requests/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---|---|---|---|---|")
    for connections in (1, 32):
        for label, binary in binaries:
            d = Daemon(binary, repo)
            url = f"http://127.0.0.1:{d.port}/v2/models/hamiltonian/classify"
            subprocess.run(["wrk", "-t", "1", "-c", str(connections), "-d", "2s", "-s", script, url],
                           env=dict(os.environ, RS_PNG=PNG), capture_output=True)
            out = subprocess.run(["wrk", "-t", "1", "-c", str(connections), "-d", f"{int(seconds)}s", "--latency", "-s", script, url],
                                 env=dict(os.environ, RS_PNG=PNG), capture_output=True, text=True).stdout
            d.stop()
            rps = next((l.split()[1] for l in out.splitlines() if l.startswith("Requests/sec")), "?")
            lat = {l.split()[0]: l.split()[1] for l in out.splitlines() if l.strip().startswith(("50%", "99%"))}
            bad = next((l.split()[-1] for l in out.splitlines() if "Non-2xx" in l), "0")
            print(f"| {label} | {connections} | {rps} | {lat.get('50%', '?')} | {lat.get('99%', '?')} | {bad} |", flush=True)
    shutil.rmtree(repo)


# -- isolation: a serving model while others load ----------------------------------------------

def big_model(binary, repo):
    """A random-weight hamiltonian on 3×64×64 (12 blocks), warmed with a full batch of 512."""
    subprocess.run([binary, "train", "--arch", "hamiltonian", "--units", "4,4,4", "--channels", "32,64,112",
                    "--input", "3,64,64", "--dataset", "synthetic", "--max-steps", "1", "--batch-size", "4",
                    "--repository", repo, "--model", "big"], check=True, capture_output=True)
    shutil.rmtree(os.path.join(repo, "big", ".training"), ignore_errors=True)
    open(os.path.join(repo, "big", "config.json"), "w").write('{"max_batch_size": 512}')


def isolation(binaries, seconds):
    print(f"\n### A serving model's latency (4 clients, bundled hamiltonian) before and during other models' loads\n")
    print("| revserve | phase | requests | p50 ms | p99 ms | max ms | loads took s |")
    print("|---|---|---|---|---|---|---|")
    hang = os.path.join(ROOT, "Fuzz", "libhdf5", "checkpoint", "hang-22308b8dd2709b18516338776efe9789c9c6c9d8")
    for label, binary in binaries:
        repo = bundled_repository()
        staging = tempfile.mkdtemp(prefix="rs-big-")
        big_model(binary, staging)
        d = Daemon(binary, repo, ["--checkpoint-check-timeout-ms", "6000"])
        body = open(PNG, "rb").read()
        stop = threading.Event()
        results = [[] for _ in range(4)]
        threads = [threading.Thread(target=classify_loop, args=(d.socket, "hamiltonian", body, 3600, False, results[i], stop))
                   for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(seconds)
        load_start = time.perf_counter()
        shutil.move(os.path.join(staging, "big"), os.path.join(repo, "big"))
        os.makedirs(os.path.join(repo, "hang", ".p"))
        shutil.copy(hang, os.path.join(repo, "hang", ".p", "model.h5"))
        os.rename(os.path.join(repo, "hang", ".p"), os.path.join(repo, "hang", "1"))
        while True:
            c = UnixConnection(d.socket)
            c.request("POST", "/v2/repository/index", body=b"{}", headers={"Content-Type": "application/json"})
            rows = json.loads(c.getresponse().read())
            states = {(r["name"], r.get("state")) for r in rows}
            if ("big", "READY") in states and ("hang", "UNAVAILABLE") in states:
                break
            time.sleep(0.1)
        load_end = time.perf_counter()
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        d.stop()
        shutil.rmtree(repo)
        shutil.rmtree(staging)
        flat = [(ms, ok, start) for r in results for (ms, ok, start) in r]
        before = percentiles([ms for ms, ok, s in flat if ok and s < load_start and s > load_start - seconds + 1])
        during = percentiles([ms for ms, ok, s in flat if ok and load_start <= s < load_end])
        failed = sum(1 for ms, ok, s in flat if not ok)
        for phase, p in (("alone", before), ("while loading", during)):
            print(f"| {label} | {phase} | {p['n']} | {p['p50']:.1f} | {p['p99']:.1f} | {p['max']:.1f} | "
                  f"{load_end - load_start:.1f} |" + (f" ({failed} failed)" if failed and phase != "alone" else ""), flush=True)


# -- swap: another model's first request after a swap -------------------------------------------

def swap(binaries, seconds):
    print("\n### Model `other`'s first request after each of 10 swaps of model `m`, against its steady latency\n")
    print("| revserve | steady p50 ms | first after a pause, no swap: median ms | first after a swap: median ms | max ms |")
    print("|---|---|---|---|---|")
    files = [os.path.join(ROOT, "models", a, "1", "model.h5") for a in ("hamiltonian", "midpoint", "leapfrog")]
    for label, binary in binaries:
        repo = bundled_repository(("hamiltonian",))
        os.rename(os.path.join(repo, "hamiltonian"), os.path.join(repo, "other"))
        os.makedirs(os.path.join(repo, "m", "1"))
        shutil.copy(files[1], os.path.join(repo, "m", "1", "model.h5"))
        d = Daemon(binary, repo)
        body = open(PNG, "rb").read()
        steady = []
        classify_loop(d.socket, "other", body, 2, False, [])
        classify_loop(d.socket, "other", body, seconds, False, steady)
        firsts, idle = [], []
        for v in range(2, 12):
            # The control: one request after the same pause without a swap (threads park when idle).
            time.sleep(1.3)
            one = []
            classify_loop(d.socket, "other", body, 0.001, False, one)
            idle.append(one[0][0])
            staging = os.path.join(repo, "m", f".p{v}")
            os.makedirs(staging)
            shutil.copy(files[v % 3], os.path.join(staging, "model.h5"))
            os.rename(staging, os.path.join(repo, "m", str(v)))
            shutil.rmtree(os.path.join(repo, "m", str(v - 1)))
            while True:   # until version v serves and v - 1 is retired
                c = UnixConnection(d.socket)
                c.request("POST", "/v2/repository/index", body=b"{}", headers={"Content-Type": "application/json"})
                rows = [r for r in json.loads(c.getresponse().read()) if r["name"] == "m" and r.get("state") == "READY"]
                if [r.get("version") for r in rows] == [str(v)]:
                    break
                time.sleep(0.05)
            time.sleep(0.3)   # the retired version's last request has ended
            one = []
            classify_loop(d.socket, "other", body, 0.001, False, one)
            firsts.append(one[0][0])
        d.stop()
        shutil.rmtree(repo)
        s = percentiles([ms for ms, ok, _ in steady if ok])
        print(f"| {label} | {s['p50']:.2f} | {statistics.median(idle):.2f} | {statistics.median(firsts):.2f} | {max(firsts):.2f} |", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--revserve", action="append", required=True)
    parser.add_argument("--sections", default="lone,keepalive,isolation,swap")
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args()
    binaries = [(os.path.basename(os.path.dirname(os.path.abspath(b))), os.path.abspath(b)) for b in args.revserve]
    for section in args.sections.split(","):
        {"lone": lone, "keepalive": keepalive, "isolation": isolation, "swap": swap}[section](binaries, args.seconds)


if __name__ == "__main__":
    main()
