#!/usr/bin/env bash
# Run every benchmark (sereport against the naive baseline); writes bench/RESULTS.md.
# Usage: bash bench/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,bench]'
exec .venv/bin/python bench/run.py "$@"
