#!/usr/bin/env bash
# engine.sh: the in-process engine benchmarks behind docs/BENCHMARKS.md: inference for every
# preset at batch 64, training steps for every preset in both memory modes at batch 32, and the
# memory-flatness pair (4-4-4 vs 100-100-100 Hamiltonian blocks). Prints markdown tables.
# Usage: bench/engine.sh [path/to/revserve]   (default .build/release/revserve)
set -euo pipefail
BIN=${1:-.build/release/revserve}
PRESETS="hamiltonian-74 hamiltonian-218 hamiltonian-1202 midpoint-26 midpoint-62 leapfrog-26 leapfrog-62"

table() {  # reads JSON lines, prints one markdown row each
  python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    mib = lambda b: "%.1f" % (b / 2**20) if b is not None else "n/a"
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    print("| %s | %s | %s | %d | %.1f | %.1f | %.0f%% | %s | %s | %s |" % (
        r["architecture"], "-".join(map(str, r["unitBlocks"])), r.get("memoryMode") or "", r["batch"],
        r["imagesPerSecond"], r["gflops"], 100 * r["gflops"] / r["referenceSgemmGflops"],
        mib(r["peakResidentBytes"]), mib(r["activationBytes"]),
        mib(r.get("engineKeptBytes"))))
'
}
json1() { "$BIN" "$@" --json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))'; }

echo "| architecture | blocks | memory | batch | images/s | GFLOP/s | of sgemm | peak MiB | activations MiB | kept MiB |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for p in $PRESETS; do json1 bench infer --preset "$p" --batch 64 --repeats 10; done | table
for p in $PRESETS; do
  for m in reversible standard; do json1 bench train --preset "$p" --batch 32 --memory "$m" --warmup 1 --repeats 3; done
done | table
for u in 4,4,4 100,100,100; do
  for m in reversible standard; do
    json1 bench train --arch hamiltonian --units "$u" --channels 32,64,128 --batch 32 --memory "$m" --warmup 1 --repeats 2
  done
done | table
