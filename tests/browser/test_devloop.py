"""Seed acceptance 5, the dev loop: edits to Python files in either package show
up in the running dev servers (uvicorn --reload, Streamlit runOnSave) without a
restart, and the sidecar's counters survive a reload of the trading app."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.procs import REPO, require_binary, wait_until
from support.prom import scrape

from .test_trade_flow import CHROMIUM_ARGS

SIDECAR_INIT = "metrics-sidecar/src/metrics_sidecar/__init__.py"
APP_INIT = "trading-app/src/trading_app/__init__.py"
UI_PAGE = "trading-app/src/trading_app/ui_trade.py"


@pytest.fixture
def dev_copy(tmp_path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    copy = tmp_path / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy / name)
    # The venv's editable installs point at the original tree; PYTHONPATH puts the copy first.
    env = {**os.environ, "WEBAPP_DELIVERY": "fire_and_forget",
           "PYTHONPATH": f"{copy / 'metrics-sidecar/src'}:{copy / 'trading-app/src'}"}
    proc = subprocess.Popen([sys.executable, str(copy / "scripts/launch.py"), "--dev", "--ports", "auto",
                             "--no-prometheus", "--run-dir", str(tmp_path / "run")], stdout=subprocess.PIPE,
                            text=True, env=env, cwd=copy)
    assert proc.stdout is not None
    info: dict[str, Any] = {}
    for line in proc.stdout:
        if line.startswith('{"event": "ready"'):
            info = json.loads(line)
            break
    try:
        assert info, "dev loop did not start"
        yield copy, info
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def health_version(url: str) -> str:
    return str(httpx.get(url + "/health", timeout=2).json()["version"])


def trades(sidecar: str) -> float:
    return scrape(sidecar + "/metrics/").get('trades_total{side="buy",symbol=""}', 0.0)


def test_edits_reload_live_and_sidecar_counters_survive(dev_copy: tuple[Path, dict[str, Any]]) -> None:
    chromium = require_binary("chromium")
    copy, info = dev_copy
    api, sidecar, ui = info["api"], info["sidecar"], info["ui"]
    wait_until(lambda: httpx.get(api + "/health").json()["sidecar_connected"], 30, message="API connected")

    # 1. trading-app: a trade, an edit, the reload seen in /health, another trade.
    assert httpx.post(api + "/trade/buy", data={"qty": "1"}).status_code == 303
    wait_until(lambda: trades(sidecar) == 1, 10, message="first trade counted")
    edit(copy / APP_INIT, '__version__ = "0.1.0"', '__version__ = "0.1.0+devloop-app"')
    wait_until(lambda: health_version(api) == "0.1.0+devloop-app", 30, 0.2, message="API reloaded")
    wait_until(lambda: httpx.get(api + "/health").json()["sidecar_connected"], 10, message="API reconnected")
    assert httpx.post(api + "/trade/buy", data={"qty": "1"}).status_code == 303
    wait_until(lambda: trades(sidecar) == 2, 10, message="sidecar kept counting across the app reload")

    # 2. Streamlit: the caption changes in the open page without a restart.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(ui)
        page.get_by_text("Every click is published").wait_for(timeout=30_000)
        page.get_by_text("Rendered at").wait_for(timeout=30_000)
        # Streamlit registers a module's watcher only after the run that imported it
        # ends; re-save with a new marker until one edit is seen (deadline-bound).
        source = (copy / UI_PAGE).read_text()

        def saved_edit_is_shown(n: list[int] = [0]) -> bool:  # noqa: B006 - attempt counter
            n[0] += 1
            (copy / UI_PAGE).write_text(source.replace("Every click is published",
                                                       f"Dev loop {n[0]}: every click is published"))
            try:
                page.get_by_text(f"Dev loop {n[0]}:").wait_for(timeout=3_000)
                return True
            except Exception:  # noqa: BLE001 - playwright timeout: try again
                return False

        wait_until(saved_edit_is_shown, 40, 0, message="UI shows the edited caption")
        browser.close()

    # 3. metrics-sidecar: its own reload is seen in /health.
    edit(copy / SIDECAR_INIT, '__version__ = "0.1.0"', '__version__ = "0.1.0+devloop-sidecar"')
    wait_until(lambda: health_version(sidecar) == "0.1.0+devloop-sidecar", 30, 0.2, message="sidecar reloaded")
    assert time.time()
