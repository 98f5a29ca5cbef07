"""A backlog on the wire: encoded messages joined into JSON-array frames."""

from __future__ import annotations

from collections.abc import Sequence

# publish_many() frames stay below the sidecar's default SIDECAR_MAX_MESSAGE_BYTES
# (65,536), with room to spare: a larger frame would be rejected as too_large.
BATCH_MAX_BYTES = 60_000


def pack_frames(payloads: Sequence[bytes], max_bytes: int = BATCH_MAX_BYTES) -> list[tuple[int, bytes]]:
    """Encoded messages -> frames: (message count, frame). Consecutive payloads are
    joined into one JSON array while it stays within ``max_bytes``; a payload that
    is alone in its frame is sent as the plain object, exactly as ``publish()`` would."""
    frames: list[tuple[int, bytes]] = []
    group: list[bytes] = []
    size = 1
    for payload in payloads:
        if group and size + len(payload) + 1 > max_bytes:
            frames.append(_frame(group))
            group, size = [], 1
        group.append(payload)
        size += len(payload) + 1  # the payload and its ',' (or the closing ']')
    if group:
        frames.append(_frame(group))
    return frames


def _frame(group: list[bytes]) -> tuple[int, bytes]:
    return len(group), group[0] if len(group) == 1 else b"[" + b",".join(group) + b"]"
