"""The launcher's options and what they resolve to. The launcher reads the same
settings (environment, then ``.env``) as the programs it starts, with their clean
error for a bad value; a flag wins over the environment, and says so."""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from telemetry_devtools import REPO
from telemetry_devtools.polling import free_port

DEFAULT_PROMETHEUS_PORT = 9090

# (port key, flag, environment variable it replaces, what listens there)
PORTS = (
    ("zmq", "--zmq-port", "SIDECAR_ZMQ_BIND", "metrics-sidecar ZeroMQ PULL"),
    ("sidecar", "--sidecar-port", "SIDECAR_PORT", "metrics-sidecar HTTP"),
    ("api", "--api-port", "WEBAPP_PORT", "trading-app API"),
    ("ui", "--ui-port", "WEBAPP_UI_PORT", "trading-app UI"),
    ("ui_metrics", "--ui-metrics-port", "WEBAPP_UI_METRICS_PORT", "trading-app UI /metrics"),
    ("prometheus", "--prometheus-port", "", "Prometheus"),
)


class LaunchError(Exception):
    """A clean, one-paragraph reason to stop (no traceback)."""


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Every other SIDECAR_* / WEBAPP_* variable (environment or .env) reaches "
                                       "the programs unchanged; see docs/configuration.md.")
    p.add_argument("--ports", choices=["default", "auto"], default="default",
                   help="default: the configured ports (the variables below, else 5555/8001/8000/8501/8502/9090); "
                        "auto: OS-chosen free ports, for tests (overrides those variables) [env: none]")
    for _key, flag, var, what in PORTS:
        env = f"env: {var}" if var else f"env: none; default {DEFAULT_PROMETHEUS_PORT}"
        p.add_argument(flag, type=int, metavar="PORT", help=f"port of the {what} [{env}]")
    p.add_argument("--host", help="bind address of every listener (default 127.0.0.1; e.g. the docker0 address "
                                  "172.17.0.1 so the Docker Prometheus of docker-compose.infra.yml can scrape) "
                                  "[env: SIDECAR_HOST, WEBAPP_HOST]")
    p.add_argument("--feed", choices=["none", "sim", "csv", "binance"],
                   help="market feed run by the API process [env: WEBAPP_FEED]")
    p.add_argument("--dev", action="store_true", help="hot reload: uvicorn --reload, Streamlit runOnSave [env: none]")
    p.add_argument("--no-prometheus", action="store_true", help="do not start a local Prometheus [env: none]")
    p.add_argument("--restart-on-failure", action="store_true",
                   help="restart metrics-sidecar when it dies (otherwise its death is reported and the API and "
                        "UI run on, counting drops) [env: none]")
    p.add_argument("--run-dir", default=str(REPO / ".run"), help="logs and Prometheus data [env: none]")
    return p


@dataclass
class Plan:
    host: str
    ports: dict[str, int]
    zmq_addr: str
    env: dict[str, str]
    prometheus_bin: str | None
    prometheus_note: str
    notes: list[str] = field(default_factory=list)

    def url(self, key: str) -> str:
        return f"http://{self.host}:{self.ports[key]}"


def configured(environ: Mapping[str, str], env_file: Path) -> dict[str, str]:
    """What the programs see: the environment over ``.env`` (their from_env rule)."""
    merged: dict[str, str] = {}
    if env_file.is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(environ)
    return merged


def _validated(environ: Mapping[str, str], env_file: Path) -> tuple[int, int, int, int, int, str]:
    """The binaries' own validation, so a bad value reads exactly as they say it."""
    from metrics_sidecar.settings import Settings
    from metrics_sidecar.settings import SettingsError as SidecarSettingsError
    from trading_app.settings import AppSettings
    from trading_app.settings import SettingsError as AppSettingsError

    try:
        sidecar = Settings.from_env(environ, str(env_file))
    except SidecarSettingsError as exc:
        raise LaunchError(f"metrics-sidecar: {exc}") from None
    try:
        app = AppSettings.from_env(environ, str(env_file))
    except AppSettingsError as exc:
        raise LaunchError(f"trading-app: {exc}") from None
    bind = sidecar.zmq_bind
    if not bind.startswith("tcp://") or not bind.rsplit(":", 1)[1].isdigit():
        raise LaunchError(f"SIDECAR_ZMQ_BIND={bind!r}: the launcher needs tcp://HOST:PORT")
    return int(bind.rsplit(":", 1)[1]), sidecar.port, app.port, app.ui_port, app.ui_metrics_port, sidecar.host


def resolve(args: argparse.Namespace, environ: Mapping[str, str], env_file: Path = REPO / ".env") -> Plan:
    seen = configured(environ, env_file)
    zmq, sidecar, api, ui, ui_metrics, env_host = _validated(environ, env_file)
    from_settings = {"zmq": zmq, "sidecar": sidecar, "api": api, "ui": ui, "ui_metrics": ui_metrics,
                     "prometheus": DEFAULT_PROMETHEUS_PORT}
    notes: list[str] = []
    ports: dict[str, int] = {}
    flagged: dict[str, str] = {}  # port key -> the flag that chose it
    for key, flag, var, _what in PORTS:
        chosen: int | None = getattr(args, flag[2:].replace("-", "_"))
        source = flag
        if chosen is None and args.ports == "auto":
            chosen, source = free_port(), "--ports auto"
        if chosen is None:
            # 0 means "OS picks" to the programs (the launcher must know the port to check
            # it), except WEBAPP_UI_METRICS_PORT=0, which turns the UI's /metrics off.
            ports[key] = from_settings[key] or (0 if key == "ui_metrics" else free_port())
            continue
        if not 0 < chosen < 65536:
            raise LaunchError(f"{flag}={chosen}: must be 1..65535")
        ports[key], flagged[key] = chosen, source
        if var and var in seen and chosen != from_settings[key]:
            notes.append(f"{source} wins: {key} port {chosen} instead of {var}={seen[var]}")
    host = args.host or env_host
    if not args.host and seen.get("WEBAPP_HOST", env_host) != env_host:
        notes.append(f"every listener binds to {env_host} (SIDECAR_HOST), not WEBAPP_HOST={seen['WEBAPP_HOST']}; "
                     "use --host to choose")
    for var in ("SIDECAR_HOST", "WEBAPP_HOST"):
        if args.host and var in seen and seen[var] != args.host:
            notes.append(f"--host wins: {args.host} instead of {var}={seen[var]}")
    zmq_addr = f"tcp://{host}:{ports['zmq']}"
    prometheus_bin = None if args.no_prometheus else shutil.which("prometheus")
    note = ("not started (--no-prometheus)" if args.no_prometheus
            else "not installed (apt-get install -y prometheus)" if prometheus_bin is None else "")
    env = {**environ, "PYTHONUNBUFFERED": "1",
           "SIDECAR_ZMQ_BIND": zmq_addr, "SIDECAR_HOST": host, "SIDECAR_PORT": str(ports["sidecar"]),
           "WEBAPP_HOST": host, "WEBAPP_PORT": str(ports["api"]), "WEBAPP_UI_PORT": str(ports["ui"]),
           "WEBAPP_UI_METRICS_PORT": str(ports["ui_metrics"])}
    if args.feed:
        env["WEBAPP_FEED"] = args.feed
        if "WEBAPP_FEED" in seen and seen["WEBAPP_FEED"] != args.feed:
            notes.append(f"--feed wins: {args.feed} instead of WEBAPP_FEED={seen['WEBAPP_FEED']}")
    # Where the app finds the sidecar (and Prometheus): what the launcher starts, unless
    # configured explicitly; a configured value that points elsewhere is kept, with a note.
    links = {"WEBAPP_ZMQ_ADDR": ("zmq", _app_zmq_addr(seen, zmq_addr)),
             "WEBAPP_SIDECAR_URL": ("sidecar", f"http://{host}:{ports['sidecar']}")}
    if prometheus_bin:
        links["WEBAPP_PROMETHEUS_URL"] = ("prometheus", f"http://{host}:{ports['prometheus']}")
    for var, (key, value) in links.items():
        env[var] = value
        if var not in seen or seen[var].rstrip("/") == value:
            continue
        if key in flagged:
            notes.append(f"{flagged[key]} wins: {var}={value} instead of {seen[var]}")
        else:
            env[var] = seen[var]
            notes.append(f"{var}={seen[var]} kept from the configuration; the launched service is at {value}")
    return Plan(host, ports, zmq_addr, env, prometheus_bin, note, notes)



def _app_zmq_addr(seen: Mapping[str, str], pull_addr: str) -> str:
    """Where the app publishes: the sidecar's PULL, or in reliable mode its ROUTER
    (docs/delivery.md), which the launcher must know to point the app at it."""
    if seen.get("WEBAPP_DELIVERY") != "reliable":
        return pull_addr
    bind = seen.get("SIDECAR_RELIABLE_BIND", "")
    if not bind.startswith("tcp://") or not bind.rsplit(":", 1)[1].isdigit() or bind.endswith(":0"):
        raise LaunchError(f"WEBAPP_DELIVERY=reliable needs SIDECAR_RELIABLE_BIND=tcp://HOST:PORT with a fixed "
                          f"port (got {bind!r}): the app publishes there")
    return bind
