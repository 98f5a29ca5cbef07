"""Seed acceptance 5, the dev loop: ``./run.sh --dev`` (scripts/launch.py --dev) on a
copy of the repository; edits to Python files in either package show up in the
running servers (uvicorn --reload, Streamlit runOnSave) within seconds, without
restarting anything, and the sidecar's counters survive a reload of the app.

Nothing is installed for the copy: the venv's editable installs point at the
original tree, and launch.py --dev puts the copy's src/ folders first on
PYTHONPATH, so the copy's code is what runs and reloads."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from telemetry_testkit.browser_loop import chromium_page, launched_loop, shot
from telemetry_testkit.procs import REPO, require_binary, wait_until
from telemetry_testkit.prom import scrape

pytestmark = pytest.mark.browser
SIDECAR_INIT = "metrics-sidecar/src/metrics_sidecar/__init__.py"
APP_INIT = "trading-app/src/trading_app/__init__.py"
UI_PAGE = "trading-app/src/trading_app/ui/trade_page.py"
VERSION = re.compile(r'^__version__ = "[^"]*"$', re.MULTILINE)
CAPTION = re.compile(r'^CAPTION = "[^"]*"$', re.MULTILINE)


def copy_repository(dest: Path) -> Path:
    """Tracked files plus uncommitted and untracked ones (what a developer has),
    and the compiled core that setup built in place (git-ignored, but in every
    developer's tree: the copy's Python imports it)."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    names += [str(p.relative_to(REPO)) for p in (REPO / "metrics-sidecar/src/metrics_sidecar").glob("_core*.so")]
    for name in filter(None, names):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


def edit(path: Path, pattern: re.Pattern[str], new_line: str) -> None:
    text, n = pattern.subn(new_line, path.read_text())
    assert n == 1, f"{pattern.pattern} not found once in {path}"
    path.write_text(text)


def health_version(url: str) -> str:
    return str(httpx.get(url + "/health", timeout=2).json()["version"])


def seed_buys(sidecar: str) -> float:
    return scrape(sidecar + "/metrics/").get('trades_total{side="buy",symbol=""}', 0.0)


def test_edits_reload_live_and_sidecar_counters_survive(tmp_path: Path) -> None:
    require_binary("chromium")
    copy = copy_repository(tmp_path / "repo")
    with launched_loop(tmp_path / "run", "--dev", "--no-prometheus", repo=copy) as info:
        api, sidecar, ui = info["api"], info["sidecar"], info["ui"]
        wait_until(lambda: httpx.get(api + "/health").json()["sidecar_connected"], 30, message="API connected")

        # 1. trading-app: a trade, an edit, the reload seen in /health, another trade
        # counted on top of the first one by the same sidecar process.
        assert httpx.post(api + "/trade/buy", data={"qty": "1"}).status_code == 303
        wait_until(lambda: seed_buys(sidecar) == 1, 10, message="first trade counted")
        edit(copy / APP_INIT, VERSION, '__version__ = "0.0.0+devloop-app"')
        wait_until(lambda: health_version(api) == "0.0.0+devloop-app", 20, 0.2, message="API reloaded")
        wait_until(lambda: httpx.get(api + "/health").json()["sidecar_connected"], 10, message="API reconnected")
        assert httpx.post(api + "/trade/buy", data={"qty": "1"}).status_code == 303
        wait_until(lambda: seed_buys(sidecar) == 2, 10, message="sidecar kept counting across the app reload")

        # 2. Streamlit: the caption changes in the open page, which keeps working.
        with chromium_page() as page:
            page.goto(ui)
            page.get_by_text("Sidecar connected").wait_for(timeout=30_000)
            page.get_by_text("Rendered at").wait_for(timeout=30_000)
            source = copy / UI_PAGE

            # Streamlit starts watching a module once the run that imported it has
            # finished; so save again with a new marker until one edit shows.
            def saved_edit_is_shown(attempt: list[int] = [0]) -> bool:  # noqa: B006 - attempt counter
                attempt[0] += 1
                edit(source, CAPTION, f'CAPTION = "Dev loop edit {attempt[0]}: clicks go over ZeroMQ."')
                try:
                    page.get_by_text(f"Dev loop edit {attempt[0]}:").wait_for(timeout=3_000)
                    return True
                except Exception:  # noqa: BLE001 - playwright's timeout: save again
                    return False

            wait_until(saved_edit_is_shown, 30, 0, message="the page shows the edited caption")
            shot(page, "devloop-ui-edited")
            page.get_by_role("button", name="Buy", exact=True).click()
            page.locator(".st-key-notice").get_by_text("Emitted buy 1 BTCUSDT").wait_for(timeout=10_000)
            wait_until(lambda: scrape(sidecar + "/metrics/").get('trades_total{side="buy",symbol="BTCUSDT"}') == 1,
                       10, message="a click after the UI reload is counted")
        assert seed_buys(sidecar) == 2  # the UI reload did not reset the sidecar either

        # 3. metrics-sidecar: its own reload is seen in /health.
        edit(copy / SIDECAR_INIT, VERSION, '__version__ = "0.0.0+devloop-sidecar"')
        wait_until(lambda: health_version(sidecar) == "0.0.0+devloop-sidecar", 20, 0.2,
                   message="sidecar reloaded")
        assert health_version(api) == "0.0.0+devloop-app"  # the other package was left alone
