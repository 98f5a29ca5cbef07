"""One place that runs a child process under callgrind and reads its total
instruction count: the instruction drivers (``analytics_instructions.py``,
``drain_instructions.py``, ``journal_instructions.py``) count with it, because
instruction counts are what the load of a shared machine does not blur.
Needs valgrind (``apt-get install -y valgrind``)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

_TOTALS = re.compile(r"^totals:\s+(\d+)", re.MULTILINE)


def instructions(command: list[str], keep: Path | None = None) -> int:
    """Total instructions ``command`` executed under ``valgrind --tool=callgrind``;
    ``keep``: a file to copy the callgrind output to (for ``callgrind_annotate``).
    Raises if the command fails or the output has no totals line."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command],
                       check=True, capture_output=True)
        if keep is not None:
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(out, keep)
        totals = _TOTALS.search(out.read_text())
        if totals is None:
            raise RuntimeError("no totals line in the callgrind output")
        return int(totals.group(1))
