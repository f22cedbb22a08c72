#!/usr/bin/env bash
# The demo `make demo` runs: starts the daemon on the bundled models, waits until it is ready,
# classifies the sample images with `revserve classify` and with curl, and stops the daemon.
# Usage: scripts/demo.sh [path/to/revserve]
set -euo pipefail
cd "$(dirname "$0")/.."
revserve=${1:-.build/release/revserve}
socket=$(mktemp -u /tmp/revserve-demo-XXXXXX.sock)
log=$(mktemp /tmp/revserve-demo-XXXXXX.log)

"$revserve" serve --models models --socket "$socket" 2>"$log" &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null || true; wait $daemon 2>/dev/null || true; rm -f "$log"' EXIT

echo "== revserve serve --models models --socket $socket (pid $daemon)"
for _ in $(seq 1 300); do
    if curl -sf --unix-socket "$socket" http://localhost/v2/health/ready >/dev/null 2>&1; then break; fi
    kill -0 $daemon 2>/dev/null || { echo "the daemon exited:"; cat "$log"; exit 1; }
    sleep 0.1
done
curl -sf --unix-socket "$socket" http://localhost/v2/health/ready >/dev/null || { echo "the daemon never became ready:"; cat "$log"; exit 1; }
echo "ready: $(curl -s --unix-socket "$socket" http://localhost/v2)"

for model in hamiltonian midpoint leapfrog; do
    echo
    echo "== revserve classify --model $model --top 2 samples/*.png"
    "$revserve" classify --socket "$socket" --model "$model" --top 2 samples/*.png
done

echo
echo "== curl: POST /v2/models/hamiltonian/classify?top=3 with a PNG body"
for png in samples/0000-ankle-boot.png samples/0013-dress.png; do
    printf '%s: ' "$png"
    curl -s --unix-socket "$socket" -H 'Content-Type: image/png' --data-binary @"$png" \
        "http://localhost/v2/models/hamiltonian/classify?top=3"
    echo
done

echo
echo "== curl: POST /v2/models/midpoint/infer, the PNG as a raw binary body (logits and probabilities)"
curl -s --unix-socket "$socket" -H 'Inference-Header-Content-Length: 0' --data-binary @samples/0009-sneaker.png \
    http://localhost/v2/models/midpoint/infer
echo

echo
echo "== curl: GET /v2/models/hamiltonian/stats"
curl -s --unix-socket "$socket" http://localhost/v2/models/hamiltonian/stats
echo

echo
echo "== stopping the daemon (SIGTERM drains and removes the socket)"
kill -TERM $daemon
wait $daemon && echo "exit status 0"
trap - EXIT
rm -f "$log"
[ ! -e "$socket" ] && echo "socket $socket removed"
