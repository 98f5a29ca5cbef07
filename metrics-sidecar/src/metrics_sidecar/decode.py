"""Pure decode: bytes -> validated event, or the reason it was rejected.

Never raises. The work is done by the compiled core (``metrics-sidecar/core``,
Rust, module ``_core``), configured here from ``schema.py``, the one definition
of the wire: its patterns, lengths and bounds are handed to the core, which
refuses at import a pattern it cannot express. ``tests/test_core_differential.py``
holds the core to the pydantic models: the same verdict, reason and values.

A frame is either one JSON object, or a JSON array of objects (the publisher
batches when it has a backlog). In an array, each element is judged on its own:
one bad element does not reject its neighbours.

Hostile input is rejected, never trusted, each with its counted reason: invalid
UTF-8 anywhere and NaN/Infinity literals (``bad_json``), brackets nested deeper
than ``MAX_DEPTH`` (``too_deep``), duplicate keys at any level (JSON parsers
silently keep the last one, so two readers of the same bytes could disagree), and
numbers that overflow a float (``non_finite``). The rules and their order are in
``core/src/event.rs``. A bug in the core costs the frame (``internal_error``),
never the process.
"""

from __future__ import annotations

from collections.abc import Callable

from ._core import Decoder
from ._core import nesting_deeper_than as nesting_deeper_than
from .events import Event, Heartbeat, Tick, Trade
from .schema import (
    EVENT_ID_MAX_LEN,
    INSTANCE_PATTERN,
    PRICE_MAX,
    PRODUCER_PATTERN,
    QTY_MAX,
    SEQ_MAX,
    SOURCE_PATTERN,
    SYMBOL_PATTERN,
    TS_MILLIS_BELOW,
    TS_SECONDS_BELOW,
)
from .timestamps import normalize_ts

__all__ = ["DECODER", "MAX_DEPTH", "DecodeResult", "Event", "Heartbeat", "Tick", "Trade", "decode", "decode_batch",
           "nesting_deeper_than"]

MAX_DEPTH = 32  # a message is one flat object; nested extra fields are tolerated up to here

DecodeResult = Trade | Tick | Heartbeat | str

_decoder = Decoder(
    trade=Trade, tick=Tick, heartbeat=Heartbeat, normalize_ts=normalize_ts, max_depth=MAX_DEPTH,
    symbol_pattern=SYMBOL_PATTERN, producer_pattern=PRODUCER_PATTERN, instance_pattern=INSTANCE_PATTERN,
    source_pattern=SOURCE_PATTERN, event_id_max_len=EVENT_ID_MAX_LEN, seq_max=SEQ_MAX, qty_max=QTY_MAX,
    price_max=PRICE_MAX, sent_ts_below=TS_SECONDS_BELOW, ts_seconds_below=TS_SECONDS_BELOW,
    ts_millis_below=TS_MILLIS_BELOW,
)

DECODER: Decoder = _decoder
"""The configured decoder (the batch ingest, ``TelemetryState.ingest``, hands it to the core)."""

decode: Callable[[bytes], DecodeResult] = _decoder.decode
"""One JSON object -> event or reason."""

decode_batch: Callable[[bytes], list[DecodeResult]] = _decoder.decode_batch
"""A JSON array of messages -> one result per element, each judged like ``decode``."""
