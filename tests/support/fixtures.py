"""The shared example wire messages (testdata/messages), used by both packages' tests.

File names encode the expectation: ``valid/<name>.json`` must be accepted,
``invalid/<reason>__<name>.json`` must be rejected with ``<reason>``."""

from __future__ import annotations

from pathlib import Path

MESSAGES = Path(__file__).resolve().parents[2] / "testdata" / "messages"


def load_messages(kind: str) -> list[tuple[str, bytes]]:
    return [(p.stem, p.read_bytes().rstrip(b"\n")) for p in sorted((MESSAGES / kind).glob("*.json"))]
