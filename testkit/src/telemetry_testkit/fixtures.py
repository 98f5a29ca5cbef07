"""The shared example wire messages (testdata/messages), used by both packages' tests.

File names encode the expectation: ``valid/<name>.json`` must be accepted,
``invalid/<reason>__<name>.json`` must be rejected with ``<reason>``."""

from __future__ import annotations

from telemetry_devtools import REPO

MESSAGES = REPO / "testdata" / "messages"


def load_messages(kind: str) -> list[tuple[str, bytes]]:
    return [(p.stem, p.read_bytes().rstrip(b"\n")) for p in sorted((MESSAGES / kind).glob("*.json"))]
