#!/usr/bin/env bash
# serving.sh: the dynamic batcher under load, behind docs/BENCHMARKS.md. For three models (the
# bundled Fashion-MNIST hamiltonian, a random-weight hamiltonian-74 on 3×32×32 and a wide
# random-weight hamiltonian on 3×16×16), runs the
# daemon with --max-batch 64 and with --max-batch 1, drives each with 32 concurrent
# single-image clients (`revserve bench load`), and prints a markdown table with the
# in-process batch-1 and batch-64 engine throughput beside it (the ceiling on what batching
# can gain). Usage: bench/serving.sh [path/to/revserve] [seconds per run]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-.build/release/revserve}
SECONDS_PER_RUN=${2:-10}
work=$(mktemp -d /tmp/revserve-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/repo"
cp -r models/hamiltonian "$work/repo/fashion"
rm -rf "$work/repo/fashion/.training"
"$BIN" train --preset hamiltonian-74 --dataset synthetic --max-steps 1 --batch-size 8 --seed 1 \
    --repository "$work/repo" --model h74 >/dev/null
rm -rf "$work/repo/h74/.training"
# A model where a single image makes small matrices (3×16×16, widths 64-128-256): the regime
# in which batching has the most to gain on a CPU.
"$BIN" train --arch hamiltonian --units 2,2,2 --channels 64,128,256 --input 3,16,16 --dataset synthetic \
    --max-steps 1 --batch-size 8 --seed 1 --repository "$work/repo" --model wide16 >/dev/null
rm -rf "$work/repo/wide16/.training"

engine() {  # model-shaped in-process throughput: images/s at a batch size
  "$BIN" bench infer "$@" --json | python3 -c 'import json,sys; print("%.0f" % json.load(sys.stdin)["imagesPerSecond"])'
}

echo "| model | --max-batch | requests/s | p50 ms | p99 ms | mean batch | speed-up | engine b1 → b64 images/s (ratio) |"
echo "|---|---|---|---|---|---|---|---|"
for model in fashion h74 wide16; do
  case $model in
    fashion) shape=(--arch hamiltonian --units 2,2,2 --channels 32,64,112 --input 1,28,28) ;;
    h74) shape=(--preset hamiltonian-74 --input 3,32,32) ;;
    wide16) shape=(--arch hamiltonian --units 2,2,2 --channels 64,128,256 --input 3,16,16) ;;
  esac
  b1=$(engine "${shape[@]}" --batch 1 --repeats 20)
  b64=$(engine "${shape[@]}" --batch 64 --repeats 10)
  base=""
  for maxbatch in 1 64; do
    socket="$work/rs.sock"
    "$BIN" serve --models "$work/repo" --socket "$socket" --max-batch $maxbatch 2>"$work/daemon.log" &
    daemon=$!
    for _ in $(seq 1 300); do
      curl -sf --unix-socket "$socket" http://localhost/v2/health/ready >/dev/null 2>&1 && break
      sleep 0.1
    done
    "$BIN" bench load --socket "$socket" --model $model --clients 32 --seconds "$SECONDS_PER_RUN" --json \
        samples/0009-sneaker.png > "$work/load.json"
    kill -TERM $daemon; wait $daemon
    row=$(python3 - "$work/load.json" "$maxbatch" "$base" "$b1" "$b64" "$model" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); maxbatch, base, b1, b64, model = sys.argv[2:7]
speedup = "%.2f×" % (r["requestsPerSecond"] / float(base)) if base else "1×"
print("| %s | %s | %.1f | %.1f | %.1f | %.1f | %s | %s → %s (%.2f×) |%.3f" % (
    model, maxbatch, r["requestsPerSecond"], r["latencyMs"]["p50"], r["latencyMs"]["p99"], r["meanBatchSize"], speedup,
    b1, b64, float(b64) / float(b1), r["requestsPerSecond"]))
PY
)
    echo "${row%|*}|"
    [ -n "$base" ] || base=${row##*|}
  done
done
