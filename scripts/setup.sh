#!/usr/bin/env bash
# Create .venv and install both packages (editable, with test extras). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(cat trading-app/pyproject.toml metrics-sidecar/pyproject.toml | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e "./metrics-sidecar[test]" -e "./trading-app[test]"
  touch "$stamp"
fi
