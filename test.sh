#!/usr/bin/env bash
# Runs every test: the compiled core's Rust checks (rustfmt, clippy, cargo test),
# lint (ruff), types (mypy), schema drift, promtool, and pytest
# (unit, real-process, real Prometheus, real Chromium). Under CI=true it first
# installs the system binaries those tests need, so they run instead of skipping.
# Extra arguments go to pytest (e.g. ./test.sh -k decode).
set -euo pipefail
cd "$(dirname "$0")"
if [ "${CI:-}" = "true" ]; then
  need=""
  command -v prometheus >/dev/null || need="$need prometheus"
  command -v promtool >/dev/null || need="$need prometheus"
  command -v prometheus-pushgateway >/dev/null || need="$need prometheus-pushgateway"
  command -v prometheus-blackbox-exporter >/dev/null || need="$need prometheus-blackbox-exporter"
  [ -x /usr/bin/chromium ] || need="$need chromium"
  command -v ip >/dev/null || need="$need iproute2"  # network namespaces: tests/e2e/test_multihost.py
  if [ -n "$need" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || true
    apt-get install -y -qq $need >/dev/null
  fi
fi
command -v cargo >/dev/null || { echo "test.sh: cargo not found: the sidecar's core is Rust (https://rustup.rs)" >&2; exit 1; }
# One target dir (git-ignored) for maturin's build and the checks below: nothing
# is compiled twice, and a second run is incremental.
export CARGO_TARGET_DIR="$PWD/metrics-sidecar/core/target"
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== core: rustfmt, clippy, cargo test"
(cd metrics-sidecar/core && cargo fmt --check && cargo clippy -q --all-targets --features python -- -D warnings \
  && cargo test -q)
echo "== ruff"; ruff check .
echo "== mypy"; mypy
# Each package's tests on their own: both have a conftest.py and a test_settings.py (one module name each).
mypy metrics-sidecar/tests; mypy trading-app/tests
echo "== pytest"
# Coverage of the in-process code (unit tests, in-process apps), then a summary per package.
# COVERAGE=0 ./test.sh skips it (the tracer slows CPU-bound unit tests down, e.g. the decode fuzz).
if [ "${COVERAGE:-1}" = "0" ]; then exec python -m pytest "$@"; fi
rm -f .coverage
status=0
python -m pytest --cov=metrics_sidecar --cov=trading_app --cov-report= "$@" || status=$?
echo "== coverage"; python scripts/coverage_summary.py
exit "$status"
