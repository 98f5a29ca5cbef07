"""Root conftest: makes the shared end-to-end helpers (tests/support) importable."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))
