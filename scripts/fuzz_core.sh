#!/usr/bin/env bash
# Fuzz the compiled core's decoder (cargo-fuzz, libFuzzer) for a set time.
#
#   scripts/fuzz_core.sh [SECONDS]      # default 600
#   FUZZ_UPDATE_CORPUS=1 scripts/fuzz_core.sh 1800   # then minimise into corpus-min/
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain
# (`rustup toolchain install nightly`): cargo fuzz builds with -Zsanitizer=address.
# The run starts from the committed corpus (metrics-sidecar/core/fuzz/corpus-min)
# and the message fixtures; a crash is saved under fuzz/artifacts/decode/ and must
# become a regression case in metrics-sidecar/core/tests/regressions.rs before
# it is fixed. tests/test_core_differential.py replays corpus-min through the
# core and the pydantic reference.
set -euo pipefail
cd "$(dirname "$0")/../metrics-sidecar/core/fuzz"
seconds=${1:-600}
mkdir -p corpus/decode
cp -n ../../../testdata/messages/*/*.json corpus/decode/
[ -d corpus-min ] && cp -n corpus-min/* corpus/decode/
cargo +nightly fuzz run decode corpus/decode -- \
  -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=1024 -print_final_stats=1
if [ "${FUZZ_UPDATE_CORPUS:-0}" = 1 ]; then
  cargo +nightly fuzz cmin decode corpus/decode
  rm -rf corpus-min && cp -r corpus/decode corpus-min
  echo "corpus-min: $(ls corpus-min | wc -l) inputs"
fi
