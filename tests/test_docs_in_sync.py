"""Generated docs must match the code they describe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_configuration_doc_matches_settings() -> None:
    result = subprocess.run([sys.executable, "scripts/gen_config_docs.py", "--check"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_env_example_lists_only_real_keys() -> None:
    doc = (REPO / "docs" / "configuration.md").read_text()
    for line in (REPO / ".env.example").read_text().splitlines():
        key = line.lstrip("# ").split("=", 1)[0].strip()
        if key.startswith(("SIDECAR_", "WEBAPP_")):
            assert f"`{key}`" in doc, key
