"""Type stub for the compiled core (metrics-sidecar/core, Rust, built by maturin)."""

from collections.abc import Callable
from typing import Any

PARSE_DEPTH_LIMIT: int

class Decoder:
    """Frame bytes -> an event (built by calling the matching event class with its
    fields as keywords) or the rejection reason (a str from ``reasons.py``)."""

    def __init__(
        self,
        *,
        trade: Callable[..., Any],
        tick: Callable[..., Any],
        heartbeat: Callable[..., Any],
        normalize_ts: Callable[[str], float | None],
        max_depth: int,
        symbol_pattern: str,
        producer_pattern: str,
        instance_pattern: str,
        source_pattern: str,
        event_id_max_len: int,
        seq_max: int | None = None,
        qty_max: float = ...,
        price_max: float = ...,
        sent_ts_below: float = ...,
        ts_seconds_below: float,
        ts_millis_below: float,
    ) -> None: ...
    def decode(self, frame: bytes) -> Any: ...
    def decode_batch(self, frame: bytes) -> list[Any]: ...

def nesting_deeper_than(frame: bytes, limit: int) -> bool: ...
