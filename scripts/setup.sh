#!/usr/bin/env bash
# Create .venv and install both packages (editable, with test extras) and the repository's
# own tools: devtools/ (scripts, benchmarks, tests) and testkit/ (the tests' helpers). Idempotent.
# metrics-sidecar's build (maturin) compiles the Rust core (metrics-sidecar/core)
# into metrics_sidecar._core, so the stamp covers the Rust sources too: a change
# to them rebuilds the core (incrementally, in metrics-sidecar/core/target).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
core_sources() {
  find metrics-sidecar/core -name target -prune -o -name fuzz -prune -o -type f \
    \( -name '*.rs' -o -name Cargo.toml -o -name Cargo.lock \) -print | LC_ALL=C sort | xargs cat
}
stamp=.venv/.installed-$( { cat trading-app/pyproject.toml metrics-sidecar/pyproject.toml devtools/pyproject.toml testkit/pyproject.toml; core_sources; } | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  command -v cargo >/dev/null || {
    echo "setup: cargo not found: the sidecar's compiled core is Rust; install a toolchain (https://rustup.rs)" >&2
    exit 1
  }
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e "./metrics-sidecar[test]" -e "./trading-app[test]" -e ./devtools -e ./testkit
  rm -f .venv/.installed-*
  touch "$stamp"
fi
