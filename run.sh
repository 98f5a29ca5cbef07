#!/usr/bin/env bash
# One command, fresh machine, no Docker: create .venv, install both packages,
# then run the whole loop (sidecar, API, UI, and Prometheus if installed).
# Extra arguments go to scripts/launch.py (e.g. --dev, --feed sim, --ports auto).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh >&2
exec .venv/bin/python scripts/launch.py "$@"
