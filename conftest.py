"""Root conftest: makes the shared end-to-end helpers (tests/support) and the
scripts they build on (scripts/: promconf, polling) importable."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))
