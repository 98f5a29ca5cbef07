"""This repository's developer tools (scripts/, bench/ and the tests use them;
the two products do not). Installed editable by scripts/setup.sh, so the
repository root is found from this file: devtools/src/telemetry_devtools/."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
