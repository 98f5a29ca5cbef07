"""One typed settings object for the sidecar, read from ``SIDECAR_*`` env vars and
an optional ``.env`` file. Like uvicorn's Config: strict validation at start-up,
and an error names the variable and says what was wrong."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, DotEnvSettingsSource, EnvSettingsSource, NoDecode, SettingsConfigDict
from pydantic_settings.sources import PydanticBaseSettingsSource

from .histogram import DEFAULT_BUCKETS

PREFIX = "SIDECAR_"


class SettingsError(ValueError):
    """A configuration value is invalid; the message names the variable."""


class Settings(BaseSettings):
    # validate_default off: a default is valid by construction (validators that must see the
    # default say so per field). only_existing: an unknown prefixed key in .env is ignored.
    model_config = SettingsConfigDict(extra="forbid", frozen=True, validate_default=False,
                                      env_prefix=PREFIX, dotenv_filtering="only_existing")

    zmq_bind: str = Field("tcp://127.0.0.1:5555", description="ZeroMQ PULL bind endpoint")
    host: str = Field("127.0.0.1", description="HTTP bind address (loopback by default)")
    port: Annotated[int, Field(ge=0, le=65535)] = Field(8001, description="HTTP port (0 = OS picks)")
    max_message_bytes: Annotated[int, Field(ge=64, le=16 * 1024 * 1024)] = Field(
        65536, description="Largest accepted frame; larger is rejected as too_large")
    rcvhwm: Annotated[int, Field(ge=1)] = Field(100_000, description="ZeroMQ receive high-water mark")
    # 256, not more: the analytics take in each drain's events at its end, and with
    # 2048 the first ones had left the CPU cache by then (measured: 0.37 vs 0.27 us a
    # trade in absorb; the ingest itself is as fast at 256 as at 2048).
    batch_max: Annotated[int, Field(ge=1, le=100_000)] = Field(
        256, description="Messages applied per socket drain, under one lock (a batch frame counts its elements)")
    pull_drain: Literal["auto", "core", "python"] = Field(
        "auto", description="Who receives the PULL socket's queued frames: auto = the core when it can call "
                            "pyzmq's libzmq, else Python (logged); core = the core or refuse to start; "
                            "python = always the Python drain (libzmq.py)")
    events_buffer: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        1000, description="Recent events kept for GET /events")
    max_symbols: Annotated[int, Field(ge=1)] = Field(
        1000, description="Distinct symbols that become series; the rest go to __overflow__")
    max_producers: Annotated[int, Field(ge=1)] = Field(64, description="Distinct producer names tracked")
    dedup_window: Annotated[int, Field(ge=1)] = Field(
        100_000, description="Event ids remembered for duplicate detection")
    tick_max_age_seconds: Annotated[float, Field(gt=0)] = Field(
        60.0, description="Ticks older than this (vs receive time) are rejected as stale")
    max_future_seconds: Annotated[float, Field(gt=0, le=86400)] = Field(
        5.0, description="A ts or sent_ts further than this ahead of the sidecar's receive time is rejected "
                         "as future_timestamp (one wrong clock must not freeze a symbol's last price)")
    spike_fraction: Annotated[float, Field(gt=0)] = Field(
        0.10, description="A tick this far from the symbol's last price counts as a spike")
    heartbeat_interval_seconds: Annotated[float, Field(gt=0)] = Field(
        1.0, description="Expected producer heartbeat period; 3 missed => producer_up 0")
    # NoDecode: the value is comma separated (parsed below), not JSON.
    latency_buckets: Annotated[tuple[float, ...], NoDecode] = Field(
        DEFAULT_BUCKETS, description="Histogram bucket bounds in seconds, comma separated")
    latency_samples: Annotated[int, Field(ge=16, le=1_000_000)] = Field(
        4096, description="Recent raw latency samples kept per hop for exact quantiles")
    test_apply_delay_seconds: Annotated[float, Field(ge=0, le=1)] = Field(
        0.0, description="TEST-ONLY (the latency area check, tests/e2e/test_latency_area.py): hold each "
                         "received frame this long before applying it, which adds it to receive_to_apply. "
                         "0 (the default) in every real deployment; more than 1 s is refused")
    invalid_log_per_second: Annotated[float, Field(ge=0)] = Field(
        5.0, description="Rate limit for logging rejected messages")
    log_level: str = Field("INFO", description="Python logging level")
    # Lossless delivery (docs/delivery.md): a ROUTER that acks once an event's effect is durable.
    reliable_bind: str = Field(
        "", description="ZeroMQ ROUTER endpoint for lossless delivery (acks + resends); empty = off. "
                        "Requires SIDECAR_STATE_DIR")
    state_dir: str = Field(
        "", validate_default=True,
        description="Directory for durable state (snapshot + journal): counters continue across restarts, "
                    "kill -9 included. Empty = in memory only (counters reset on restart)")
    state_fsync: bool = Field(
        True, description="fsync the journal before each reliable ack: acks then survive power loss, "
                          "not only a process crash")
    snapshot_interval_seconds: Annotated[float, Field(gt=0)] = Field(
        60.0, description="How often the state is snapshotted and the journal started afresh")
    journal_max_bytes: Annotated[int, Field(ge=1_000_000)] = Field(
        64_000_000, description="Snapshot early when the journal grows past this (bounds restart replay time)")
    # Rolling analytics, OHLC bars, positions and the market-data API/stream (docs/analytics.md, docs/api.md).
    analytics: bool = Field(
        True, description="Rolling analytics, OHLC bars, positions/PnL and the market-data API and stream; "
                          "false keeps only the counters")
    analytics_short_window_seconds: Annotated[int, Field(ge=1, le=3600)] = Field(
        60, description="Short rolling window (label window=\"1m\" at the default)")
    analytics_long_window_seconds: Annotated[int, Field(ge=1, le=3600)] = Field(
        300, description="Long rolling window (window=\"5m\"); memory per symbol is 80 bytes per second of it")
    analytics_sma_ticks: Annotated[int, Field(ge=2, le=10_000)] = Field(
        20, description="N: the SMA and the tick volatility use the last N ticks of a symbol")
    analytics_ew_half_life_seconds: Annotated[float, Field(gt=0)] = Field(
        60.0, description="Half-life of the exponentially weighted volume per side")
    analytics_history_size: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        1000, description="Recent ticks kept per symbol (24 bytes each); caps GET /symbols/{id}/history?limit")
    analytics_ohlc_bars: Annotated[int, Field(ge=1, le=100_000)] = Field(
        500, description="Closed OHLC bars kept per symbol and timeframe (64 bytes each); caps ?limit")
    sse_max_rate: Annotated[float, Field(gt=0, le=1000)] = Field(
        10.0, description="At most this many writes per second to one GET /stream client; ticks are "
                          "conflated per symbol in between")
    sse_analytics_interval_seconds: Annotated[float, Field(gt=0)] = Field(
        1.0, description="At most one analytics event per symbol per stream client in this interval")
    sse_heartbeat_seconds: Annotated[float, Field(gt=0)] = Field(
        15.0, description="A comment line is sent to an idle stream client this often (keeps proxies open)")
    sse_queue_size: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        1000, description="Pending updates per stream client; a client whose queue fills is dropped")
    sse_write_timeout_seconds: Annotated[float, Field(gt=0)] = Field(
        5.0, description="A stream client that does not accept a write within this is dropped")
    sse_max_clients: Annotated[int, Field(ge=1, le=10_000)] = Field(
        100, description="Concurrent GET /stream clients; more get 503")
    # Optional ZeroMQ CURVE: encryption + a client allow-list (docs/security.md, telemetry-keygen).
    curve_secret_key_file: str = Field(
        "", description="The sidecar's CURVE secret certificate (<name>.key_secret from telemetry-keygen); "
                        "empty = CURVE off (plain TCP). Requires SIDECAR_CURVE_ALLOWED_KEYS_DIR")
    curve_allowed_keys_dir: str = Field(
        "", validate_default=True,
        description="Directory of allowed client public certificates (*.key); any other client is refused")

    @field_validator("latency_buckets", mode="before")
    @classmethod
    def _parse_buckets(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                value = tuple(float(part) for part in value.split(",") if part.strip())
            except ValueError as exc:
                raise ValueError("must be comma-separated numbers") from exc
        if isinstance(value, (tuple, list)) and (
                not value or any(b <= 0 for b in value) or list(value) != sorted(set(value))):
            raise ValueError("must be positive and strictly increasing")
        return value

    @field_validator("zmq_bind")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        if not value.startswith(("tcp://", "ipc://", "inproc://")):
            raise ValueError("must be a ZeroMQ endpoint such as tcp://127.0.0.1:5555")
        return value

    @field_validator("reliable_bind")
    @classmethod
    def _check_reliable_bind(cls, value: str) -> str:
        if value and not value.startswith(("tcp://", "ipc://", "inproc://")):
            raise ValueError("must be empty (off) or a ZeroMQ endpoint such as tcp://127.0.0.1:5556")
        return value

    @field_validator("state_dir")
    @classmethod
    def _reliable_needs_state(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("reliable_bind") and not value:
            # An ack promises the effect survives a restart; without a state dir it would not.
            raise ValueError("required when SIDECAR_RELIABLE_BIND is set (acks promise durability)")
        return value

    @field_validator("curve_secret_key_file")
    @classmethod
    def _check_curve_secret(cls, value: str) -> str:
        if value:
            from .curve import load_secret_key

            load_secret_key(value)  # fail at start-up, naming the variable, not at the first client
        return value

    @field_validator("curve_allowed_keys_dir")
    @classmethod
    def _check_curve_allow_list(cls, value: str, info: ValidationInfo) -> str:
        if bool(value) != bool(info.data.get("curve_secret_key_file", value)):
            raise ValueError("SIDECAR_CURVE_SECRET_KEY_FILE and SIDECAR_CURVE_ALLOWED_KEYS_DIR go together")
        if value:
            from .curve import load_allowed_keys

            load_allowed_keys(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value.upper()

    @classmethod
    def settings_customise_sources(
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        """``Settings(...)`` is its arguments and defaults only; the environment is read by from_env."""
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: str | None = ".env") -> Settings:
        """Build from the environment; process env wins over the ``.env`` file."""
        env = EnvSettingsSource(cls)
        if environ is not None:  # instead of the process environment; names in any case, as there
            env.env_vars = {name.lower(): value for name, value in environ.items()}
        values = {**DotEnvSettingsSource(cls, env_file=env_file)(), **env()}
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                field = str(err["loc"][0]) if err["loc"] else "?"
                problems.append(f"{PREFIX}{field.upper()}={values.get(field, '')!r}: {err['msg']}")
            raise SettingsError("invalid configuration: " + "; ".join(problems)) from None


def env_table() -> list[tuple[str, str, str]]:
    """(variable, default, description) rows for the docs' configuration table."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, tuple):
            default = ",".join(repr(b) for b in default)
        rows.append((PREFIX + name.upper(), str(default), field.description or ""))
    return rows
