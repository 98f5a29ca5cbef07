"""The wire contract: the one definition of every message the sidecar accepts.

These pydantic models are the source of truth. ``docs/schema/*.json`` is generated
from them (``python -m metrics_sidecar.schema_export``) and a test fails when the
committed files drift. The decoder (``decode.py``, the compiled core) takes its
patterns, lengths and bounds from here; ``metrics-sidecar/tests/test_core_differential.py``
proves it gives every input the verdict, reason and values these models give, and
``metrics-sidecar/tests/test_schema_contract.py`` checks every fixture against them.

The seed message ``{"type":"trade","side":"buy","qty":1,"ts":1700000000.0}`` is
valid exactly as written: every other field is optional.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# Label values that come from the wire are bounded by these patterns (and by the
# series caps in settings), so a hostile producer cannot explode cardinality.
SYMBOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,31}$"
PRODUCER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$"
INSTANCE_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
EVENT_ID_MAX_LEN = 128
SOURCE_PATTERN = r"^[a-z0-9_-]{1,16}$"

# Issue 18 wire bounds: every number on the wire fits what every layer can hold
# (an int64 in the journal and the compiled core, a float aggregate that stays
# finite). Out of range is rejected as ``bad_field`` (``bad_timestamp`` for ``ts``).
SEQ_MAX = 2**63 - 1  # seq and acked: a signed 64-bit integer
QTY_MAX = 1e15  # qty (trade) and volume (tick)
PRICE_MAX = 1e12  # price, bid, ask
TS_SECONDS_BELOW = 1e11  # sent_ts, and ts once normalised to seconds (year 5138)
TS_MILLIS_BELOW = 1e14  # a numeric ts from 1e11 on is epoch milliseconds, up to here

# Timestamps may be epoch seconds, epoch milliseconds, or an ISO 8601 string
# with an explicit offset (or Z). Normalisation lives in ``timestamps.py``.
Timestamp = Annotated[
    Annotated[float, Field(ge=0, lt=TS_MILLIS_BELOW)] | str,
    Field(description="Event time: unix epoch seconds (below 1e11), epoch milliseconds (1e11 up to 1e14), "
          "or ISO 8601 with offset/Z. Normalised to epoch seconds (always below 1e11)."),
]

Symbol = Annotated[str, Field(pattern=SYMBOL_PATTERN, description="Instrument, e.g. BTCUSDT")]


class Envelope(BaseModel):
    """Fields the publisher stamps on every message (all optional on the wire)."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False, strict=True)

    producer: Annotated[str, Field(pattern=PRODUCER_PATTERN)] | None = Field(
        default=None, description="Stable producer name, e.g. trading-app-api")
    instance: Annotated[str, Field(pattern=INSTANCE_PATTERN)] | None = Field(
        default=None, description="Producer instance id; changes on every restart")
    seq: Annotated[int, Field(ge=0, le=SEQ_MAX)] | None = Field(
        default=None, description="Per producer instance, increasing by 1 per message")
    sent_ts: Annotated[float, Field(ge=0, lt=TS_SECONDS_BELOW)] | None = Field(
        default=None, description="Publish time (epoch seconds), set inside publish()")
    event_id: Annotated[str, Field(min_length=1, max_length=EVENT_ID_MAX_LEN)] | None = Field(
        default=None, description="Unique id; duplicates within a window are counted once")


class TradeMessage(Envelope):
    """A trade (click or API call). The seed contract plus optional fields."""

    type: Literal["trade"]
    side: Literal["buy", "sell"]
    qty: Annotated[float, Field(ge=0, le=QTY_MAX)]
    ts: Timestamp
    symbol: Symbol | None = None
    price: Annotated[float, Field(gt=0, le=PRICE_MAX)] | None = None


class TickMessage(Envelope):
    """A market data tick from a feed (simulated, CSV replay or exchange relay)."""

    type: Literal["tick"]
    symbol: Symbol
    price: Annotated[float, Field(gt=0, le=PRICE_MAX)]
    volume: Annotated[float, Field(ge=0, le=QTY_MAX)] = 0.0
    ts: Timestamp
    source: Annotated[str, Field(pattern=SOURCE_PATTERN)] = "unknown"
    bid: Annotated[float, Field(gt=0, le=PRICE_MAX)] | None = None
    ask: Annotated[float, Field(gt=0, le=PRICE_MAX)] | None = None


class HeartbeatMessage(Envelope):
    """Liveness and transport-latency probe sent by the publisher every second."""

    type: Literal["heartbeat"]
    ts: Timestamp


Message = Annotated[
    TradeMessage | TickMessage | HeartbeatMessage, Field(discriminator="type")
]

MESSAGE_MODELS: dict[str, type[BaseModel]] = {
    "trade": TradeMessage,
    "tick": TickMessage,
    "heartbeat": HeartbeatMessage,
}
