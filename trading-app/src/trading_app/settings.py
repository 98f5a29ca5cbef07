"""One typed settings object for the trading app, from ``WEBAPP_*`` env vars and
an optional ``.env``. Validation is strict and errors name the variable."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, DotEnvSettingsSource, EnvSettingsSource, SettingsConfigDict
from pydantic_settings.sources import PydanticBaseSettingsSource

if TYPE_CHECKING:
    from .curve_keys import CurveClientKeys

PREFIX = "WEBAPP_"


class SettingsError(ValueError):
    """A configuration value is invalid; the message names the variable."""


class AppSettings(BaseSettings):
    # validate_default off: a default is valid by construction (validators that must see the
    # default say so per field). only_existing: an unknown prefixed key in .env is ignored.
    model_config = SettingsConfigDict(extra="forbid", frozen=True, validate_default=False,
                                      env_prefix=PREFIX, dotenv_filtering="only_existing")

    zmq_addr: str = Field("tcp://127.0.0.1:5555",
                          description="Sidecar PULL endpoint(s); comma separated to shard by symbol")
    host: str = Field("127.0.0.1", description="API bind address (loopback by default)")
    port: Annotated[int, Field(ge=0, le=65535)] = Field(8000, description="API port (0 = OS picks)")
    ui_port: Annotated[int, Field(ge=0, le=65535)] = Field(8501, description="Streamlit UI port")
    ui_metrics_port: Annotated[int, Field(ge=0, le=65535)] = Field(
        8502, description="Port of the UI process' own /metrics (its publisher's counters); 0 disables")
    sidecar_url: str = Field("http://127.0.0.1:8001", description="Sidecar HTTP base URL (events, health)")
    prometheus_url: str = Field("", description="Prometheus base URL for the latency page (optional)")
    producer: str = Field("trading-app", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$",
                          description="Producer name stamped on every message")
    sndhwm: Annotated[int, Field(ge=1)] = Field(10_000, description="ZeroMQ send high-water mark (messages)")
    heartbeat_interval_seconds: Annotated[float, Field(ge=0)] = Field(
        1.0, description="Heartbeat period; 0 disables heartbeats")
    symbols: str = Field("BTCUSDT,ETHUSDT,SOLUSDT",
                         description="Symbols offered in the UI, simulated, and accepted by POST /trade "
                                     "(empty = any symbol the wire allows)")
    max_qty: Annotated[float, Field(gt=0, le=1e15)] = Field(
        1_000_000.0, description="Largest quantity the UI and POST /trade accept (qty must be > 0 and <= this)")
    feed: Literal["none", "sim", "csv", "binance"] = Field(
        "none", description="Market feed the API process runs in the background")
    tps: Annotated[float, Field(gt=0, le=10_000)] = Field(
        2.0, description="sim feed: ticks per second per symbol")
    feed_seed: int | None = Field(None, description="sim feed: random seed (unset = different every run)")
    feed_csv_path: str = Field(
        "", description="csv feed: Stooq CSV file(s), comma separated (empty = the sample in testdata/csv/)")
    feed_csv_symbol: str = Field(
        "", description="csv feed: symbol for the ticks (empty = from the file name, aapl.us.csv -> AAPL.US)")
    feed_speed: str = Field("1", pattern=r"^(max|[0-9]*\.?[0-9]+x?)$",
                            description="csv feed: replay speed, a multiplier such as 1, 60 or 60x, or max")
    feed_max_gap_seconds: Annotated[float, Field(ge=0)] = Field(
        0.0, description="csv feed: cap on one wait between rows after scaling (0 = keep every gap)")
    binance_url: str = Field("wss://stream.binance.com:9443/ws/btcusdt@trade",
                             description="binance feed: trade stream WebSocket URL")
    feed_backoff_initial_seconds: Annotated[float, Field(gt=0)] = Field(
        0.5, description="binance feed: first reconnect delay (doubles per failure)")
    feed_backoff_max_seconds: Annotated[float, Field(gt=0)] = Field(
        30.0, description="binance feed: cap on the reconnect delay")
    api_key: str = Field("", description="If set, POST /trade requires header x-api-key (secret: keep in .env)")
    basic_auth_password: str = Field(
        "", description="Password for WEBAPP_BASIC_AUTH_USER (secret: keep in .env)")
    # After the password, so that a configuration error names the user, never echoes the password.
    basic_auth_user: str = Field(
        "", validate_default=True,
        description="If set (with WEBAPP_BASIC_AUTH_PASSWORD), POST /trade requires HTTP Basic auth")
    curve_secret_key_file: str = Field(
        "", description="This app's CURVE secret certificate (<name>.key_secret from telemetry-keygen); "
                        "empty = plain TCP. Requires WEBAPP_CURVE_SERVER_KEY_FILE")
    curve_server_key_file: str = Field(
        "", validate_default=True, description="The sidecar's CURVE public certificate (<name>.key)")
    log_level: str = Field("INFO", description="Python logging level")
    # Delivery mode (docs/delivery.md). reliable: WEBAPP_ZMQ_ADDR names the sidecar's SIDECAR_RELIABLE_BIND.
    delivery: Literal["fire_and_forget", "reliable"] = Field(
        "fire_and_forget", description="fire_and_forget (PUSH, never blocks, drops counted) or reliable "
                                       "(durable outbox, acks, resends; WEBAPP_ZMQ_ADDR = SIDECAR_RELIABLE_BIND)")
    outbox_dir: str = Field(".run/outbox", description="reliable: directory of the SQLite outboxes "
                                                       "(<producer>.sqlite); use an absolute path in production")
    outbox_synchronous: Literal["NORMAL", "FULL"] = Field(
        "NORMAL", description="reliable: SQLite synchronous. NORMAL survives kill -9 of the app, FULL also "
                              "power loss (an fsync per publish)")
    outbox_max_messages: Annotated[int, Field(ge=1)] = Field(
        1_000_000, description="reliable: unacked messages kept; beyond it publish() refuses (outbox_full)")
    reliable_ack_timeout_seconds: Annotated[float, Field(gt=0)] = Field(
        1.0, description="reliable: resend what is unacked after this long (doubles per silent timeout)")
    reliable_max_backoff_seconds: Annotated[float, Field(gt=0)] = Field(
        10.0, description="reliable: cap on the resend timeout")
    reliable_drain_seconds: Annotated[float, Field(ge=0)] = Field(
        2.0, description="reliable: on shutdown, wait this long for acks; the rest is resent on the next start")

    @field_validator("zmq_addr")
    @classmethod
    def _check_endpoints(cls, value: str) -> str:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not parts or not all(p.startswith(("tcp://", "ipc://", "inproc://")) for p in parts):
            raise ValueError("must be ZeroMQ endpoint(s) such as tcp://127.0.0.1:5555")
        return ",".join(parts)

    @field_validator("sidecar_url", "prometheus_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("feed_speed")
    @classmethod
    def _check_speed(cls, value: str) -> str:
        if value != "max" and float(value.removesuffix("x")) <= 0:
            raise ValueError("must be max or a multiplier > 0")
        return value

    @field_validator("binance_url")
    @classmethod
    def _check_ws_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("must be a ws:// or wss:// URL")
        return value

    @field_validator("basic_auth_user")
    @classmethod
    def _check_user(cls, value: str, info: ValidationInfo) -> str:
        if ":" in value:
            raise ValueError("must not contain ':' (RFC 7617)")
        if bool(value) != bool(info.data.get("basic_auth_password")):
            raise ValueError("WEBAPP_BASIC_AUTH_USER and WEBAPP_BASIC_AUTH_PASSWORD go together")
        return value

    @field_validator("curve_server_key_file")
    @classmethod
    def _check_curve(cls, value: str, info: ValidationInfo) -> str:
        secret_file = info.data.get("curve_secret_key_file", "")
        if bool(value) != bool(secret_file):
            raise ValueError("WEBAPP_CURVE_SECRET_KEY_FILE and WEBAPP_CURVE_SERVER_KEY_FILE go together")
        if value:
            from .curve_keys import load_client_keys

            load_client_keys(secret_file, value)  # fail at start-up, naming the variable
        return value

    @property
    def curve_keys(self) -> CurveClientKeys | None:
        """The CURVE client keys for the publisher, or None (plain TCP)."""
        if not self.curve_secret_key_file:
            return None
        from .curve_keys import load_client_keys

        return load_client_keys(self.curve_secret_key_file, self.curve_server_key_file)

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value.upper()

    @property
    def symbol_list(self) -> list[str]:
        return [s.strip() for s in self.symbols.split(",") if s.strip()]

    @classmethod
    def settings_customise_sources(
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        """``AppSettings(...)`` is its arguments and defaults only; the environment is read by from_env."""
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: str | None = ".env") -> AppSettings:
        """Process env wins over ``.env``; unknown ``WEBAPP_*`` keys are ignored."""
        env = EnvSettingsSource(cls)
        if environ is not None:  # instead of the process environment; names in any case, as there
            env.env_vars = {name.lower(): value for name, value in environ.items()}
        values = {**DotEnvSettingsSource(cls, env_file=env_file)(), **env()}
        try:
            return cls(**values)
        except ValidationError as exc:
            msgs = [f"{PREFIX}{str(e['loc'][0]).upper()}={values.get(str(e['loc'][0]), '')!r}: {e['msg']}"
                    for e in exc.errors() if e["loc"]]
            raise SettingsError("invalid configuration: " + "; ".join(msgs)) from None

