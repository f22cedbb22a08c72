#!/bin/sh
# Runs check.py with Triton's Python HTTP client from a virtual environment this script makes
# (once, under .build-test/). Usage: run.sh HOST:PORT MODEL SAMPLE.png
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${TRITONCLIENT_VENV:-$here/../../../.build-test/tritonclient-venv}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import tritonclient.http, numpy" 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "tritonclient[http]" numpy
fi
exec "$venv/bin/python" "$here/check.py" "$@"
