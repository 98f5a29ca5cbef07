"""One read model (issue 13): no module takes ``state.lock`` but the read model
(read_model.py, every reader's copies) and the ingest loops (ingest.py and its
drains, drains.py; reliable.py: the write side). Read from the source, so a new holder fails here
before it can mix numbers from two instants or hold up ingest."""

from __future__ import annotations

import ast
from pathlib import Path

import metrics_sidecar

ALLOWED = {"read_model.py", "ingest.py", "drains.py", "reliable.py"}
PACKAGE = Path(metrics_sidecar.__file__).parent


def _state_lock_uses(tree: ast.AST) -> list[int]:
    """Lines that read ``<...>state.lock`` (a ``with``, an ``acquire``, an alias):
    everything but an assignment to it (persistence.py installs the FlushingLock)."""
    lines = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr == "lock" and isinstance(node.ctx, ast.Load)
                and ast.unparse(node.value).split(".")[-1] in {"state", "_state"}):
            lines.append(node.lineno)
    return sorted(lines)


def test_only_the_read_model_and_the_ingest_loops_take_the_state_lock() -> None:
    holders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        uses = _state_lock_uses(ast.parse(path.read_text(), str(path)))
        if uses:
            holders[str(path.relative_to(PACKAGE))] = uses
    assert set(holders) <= ALLOWED, {name: lines for name, lines in holders.items() if name not in ALLOWED}
    assert {"read_model.py", "drains.py", "reliable.py"} <= set(holders)  # the check sees the holders it allows


def test_the_check_finds_every_way_of_taking_it() -> None:
    source = """
with state.lock:
    pass
self.state.lock.acquire()
lock = engine.state.lock
self.state.lock = FlushingLock(self)  # installing it is not taking it
client.lock.acquire()  # another lock
"""
    assert _state_lock_uses(ast.parse(source)) == [2, 4, 5]
