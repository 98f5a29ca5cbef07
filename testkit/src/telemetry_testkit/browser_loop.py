"""Helpers for tests that drive the UI in Debian's Chromium (Playwright, never
``playwright install``) against the loop started by ``scripts/launch.py`` — the
README's run command."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from telemetry_devtools.launched import CHROMIUM_ARGS, Launched
from telemetry_testkit.procs import REPO, require_binary, wait_until

ARTIFACTS = REPO / "test-artifacts"  # git-ignored: every step's screenshot


@contextmanager
def launched_loop(run_dir: Path, *args: str, repo: Path = REPO, env: dict[str, str] | None = None,
                  timeout: float = 120.0) -> Iterator[dict[str, Any]]:
    """Run ``<repo>/scripts/launch.py --ports auto --run-dir <run_dir> *args``; yield
    its ready line (URLs, pids). SIGTERM at the end stops every process it started."""
    loop = Launched(repo, run_dir, list(args),
                    {**os.environ, "WEBAPP_DELIVERY": "fire_and_forget", **(env or {})})
    try:
        try:
            info = loop.wait_ready(timeout)
        except TimeoutError as exc:
            raise AssertionError(str(exc)) from None
        info["run_dir"] = run_dir
        yield info
    finally:
        loop.stop()


@contextmanager
def chromium_page(width: int = 1400, height: int = 1600) -> Iterator[Any]:
    executable = require_binary("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def shot(page: Any, name: str) -> None:
    """Screenshot to test-artifacts/<name>.png (the README's screenshots are made
    by scripts/screenshots.py)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def table_rows(page: Any, container_key: str) -> list[dict[str, str]]:
    """Rows of the first HTML table (st.table) inside ``st.container(key=...)``,
    as header -> cell text; empty while the table is not there."""
    rows: list[list[str]] = page.evaluate(
        """key => {
            const table = document.querySelector(`.st-key-${key} table`);
            if (!table) return [];
            return [...table.querySelectorAll('tr')].map(
                tr => [...tr.querySelectorAll('th,td')].map(c => c.innerText.trim()));
        }""", container_key)
    if not rows:
        return []
    header = rows[0]
    return [dict(zip(header, row, strict=False)) for row in rows[1:]]


def exception_count(page: Any) -> int:
    """Streamlit renders an uncaught exception as an stException element."""
    return int(page.locator('[data-testid="stException"]').count())


def notice_text(page: Any) -> str:
    """The Trade page's notification of the last click, its first line (the
    message's JSON sits in an expander below it); empty while there is none."""
    box = page.locator(".st-key-notice")
    return str(box.inner_text()).strip().split("\n", 1)[0] if box.count() else ""


def click_side(page: Any, side: str) -> None:
    """Click the Trade page's Buy or Sell button."""
    page.get_by_role("button", name=side.capitalize(), exact=True).click()


def type_quantity(page: Any, text: str) -> None:
    field = page.get_by_label("Quantity")
    field.fill(text)
    field.press("Enter")


def choose_symbol(page: Any, symbol: str) -> None:
    """Type into the Trade page's symbol box (it accepts a new entry, which a click
    then refuses when WEBAPP_SYMBOLS does not list it)."""
    box = page.locator(".st-key-symbol input")
    box.click()
    box.fill(symbol)
    box.press("Enter")
    wait_until(lambda: box.input_value() == symbol, 10, message=f"symbol box shows {symbol}")
