#!/usr/bin/env bash
# Run every benchmark (sereport against the naive baseline); writes bench/RESULTS.md.
# Usage: bash bench/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,bench]'
# Bytecode, as pip writes it when it installs a package (the .deb's postinst does): the
# figures are an installed sereport's, even where PYTHONDONTWRITEBYTECODE is set (an editable
# install leaves sereport's own modules uncompiled, and every start would compile them).
.venv/bin/python -m compileall -q sereport
exec .venv/bin/python bench/run.py "$@"
