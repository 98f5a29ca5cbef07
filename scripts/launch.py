#!/usr/bin/env python3
"""Run the whole loop on this machine, no Docker: metrics-sidecar first (so no
early click is lost), then the trading-app API and UI, then a local Prometheus
scraping both every second (when the ``prometheus`` binary is installed).

    python scripts/launch.py                 # default ports 5555/8001/8000/8501/9090
    python scripts/launch.py --ports auto    # OS-chosen free ports (tests)
    python scripts/launch.py --dev           # uvicorn --reload + Streamlit runOnSave
    python scripts/launch.py --feed sim      # also run the simulated market feed

Prints the URLs, then one JSON line ``{"event": "ready", ...}`` for programs.
Ctrl-C / SIGTERM stops everything in reverse order.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from polling import free_port  # noqa: E402

import promconf  # noqa: E402


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status < 500:
                    return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {url}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ports", choices=["default", "auto"], default="default")
    parser.add_argument("--dev", action="store_true", help="hot reload: uvicorn --reload, Streamlit runOnSave")
    parser.add_argument("--feed", choices=["none", "sim", "csv", "binance"], default="none")
    parser.add_argument("--no-prometheus", action="store_true")
    parser.add_argument("--host", default="127.0.0.1",
                        help="bind address for every listener (default loopback; e.g. the docker0 address "
                             "172.17.0.1 so the Docker Prometheus of docker-compose.infra.yml can scrape)")
    parser.add_argument("--run-dir", default=str(REPO / ".run"), help="logs and Prometheus data")
    args = parser.parse_args()

    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    auto = args.ports == "auto"
    ports = {
        "zmq": free_port() if auto else int(os.environ.get("SIDECAR_ZMQ_PORT", 5555)),
        "sidecar": free_port() if auto else int(os.environ.get("SIDECAR_PORT", 8001)),
        "api": free_port() if auto else int(os.environ.get("WEBAPP_PORT", 8000)),
        "ui": free_port() if auto else int(os.environ.get("WEBAPP_UI_PORT", 8501)),
        "ui_metrics": free_port() if auto else int(os.environ.get("WEBAPP_UI_METRICS_PORT", 8502)),
        "prometheus": free_port() if auto else 9090,
    }
    host = args.host
    zmq_addr = f"tcp://{host}:{ports['zmq']}"
    sidecar_url = f"http://{host}:{ports['sidecar']}"
    api_url = f"http://{host}:{ports['api']}"
    ui_url = f"http://{host}:{ports['ui']}"
    prom_url = f"http://{host}:{ports['prometheus']}"
    prometheus_bin = None if args.no_prometheus else shutil.which("prometheus")
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "SIDECAR_ZMQ_BIND": zmq_addr, "SIDECAR_HOST": host, "SIDECAR_PORT": str(ports["sidecar"]),
        "WEBAPP_ZMQ_ADDR": zmq_addr, "WEBAPP_HOST": host, "WEBAPP_PORT": str(ports["api"]),
        "WEBAPP_UI_PORT": str(ports["ui"]), "WEBAPP_SIDECAR_URL": sidecar_url,
        "WEBAPP_UI_METRICS_PORT": str(ports["ui_metrics"]),
        "WEBAPP_FEED": args.feed,
    }
    if prometheus_bin:
        env["WEBAPP_PROMETHEUS_URL"] = prom_url
    if args.dev:
        # Hot reload must run (and watch) this checkout's sources, even when the venv
        # holds a regular install or an editable install of another checkout.
        sources = [str(REPO / "metrics-sidecar" / "src"), str(REPO / "trading-app" / "src")]
        env["PYTHONPATH"] = os.pathsep.join([*sources, *filter(None, [os.environ.get("PYTHONPATH")])])

    procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        log = open(run_dir / f"{name}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        procs.append((name, proc))
        return proc

    def stop_all(*_: object) -> None:
        for _name, proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for _name, proc in reversed(procs):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)

    uvicorn = [str(BIN / "uvicorn")]
    if args.dev:
        sidecar = spawn("metrics-sidecar", [
            *uvicorn, "metrics_sidecar.http_api:create_app_from_env", "--factory", "--host", host,
            "--port", str(ports["sidecar"]), "--reload", "--reload-dir", str(REPO / "metrics-sidecar" / "src")])
    else:
        sidecar = spawn("metrics-sidecar", [str(BIN / "metrics-sidecar")])
    wait_http(f"{sidecar_url}/health", 30, sidecar)

    if args.dev:
        api = spawn("trading-app-api", [
            *uvicorn, "trading_app.api:create_app", "--factory", "--host", host, "--port", str(ports["api"]),
            "--reload", "--reload-dir", str(REPO / "trading-app" / "src")])
    else:
        api = spawn("trading-app-api", [str(BIN / "trading-app-api")])
    wait_http(f"{api_url}/health", 30, api)

    ui_cmd = [str(BIN / "trading-app-ui")]
    if args.dev:
        # Default watcher (watchdog): it also watches the page modules ui.py imports.
        ui_cmd += ["--server.runOnSave", "true"]
    ui = spawn("trading-app-ui", ui_cmd)
    wait_http(f"{ui_url}/_stcore/health", 60, ui)

    if prometheus_bin:
        config = run_dir / "prometheus.yml"
        config.write_text(promconf.render({
            "metrics-sidecar": (f"{host}:{ports['sidecar']}", "/metrics/"),
            "trading-app-api": (f"{host}:{ports['api']}", "/metrics"),
            "trading-app-ui": (f"{host}:{ports['ui_metrics']}", "/metrics"),
        }))
        prom = spawn("prometheus", [prometheus_bin, f"--config.file={config}",
                                    f"--storage.tsdb.path={run_dir / 'prometheus-data'}",
                                    f"--web.listen-address={host}:{ports['prometheus']}"])
        wait_http(f"{prom_url}/-/ready", 30, prom)

    print(f"""
trading-telemetry is running{' (dev: hot reload)' if args.dev else ''}:
  UI (click Buy/Sell)   {ui_url}
  trading-app API       {api_url}/docs     metrics: {api_url}/metrics
  metrics-sidecar       {sidecar_url}/metrics/   events: {sidecar_url}/events
  Prometheus            {prom_url + '/graph' if prometheus_bin else 'not installed (apt-get install -y prometheus)'}
  ZeroMQ                {zmq_addr}
  logs                  {run_dir}/*.log
Ctrl-C stops everything.""", flush=True)
    print(json.dumps({
        "event": "ready", "ui": ui_url, "ui_metrics": f"http://{host}:{ports['ui_metrics']}/metrics",
        "api": api_url, "sidecar": sidecar_url, "zmq": zmq_addr,
        "prometheus": prom_url if prometheus_bin else None,
        "pids": {name: proc.pid for name, proc in procs}, "run_dir": str(run_dir),
    }), flush=True)
    while True:
        for name, proc in procs:
            if proc.poll() is not None and name != "metrics-sidecar":
                print(f"{name} exited with {proc.returncode}; see {run_dir}/{name}.log", flush=True)
                stop_all()
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
