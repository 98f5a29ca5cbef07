"""The health strip and the Alerts page in real headless Chromium, against the
loop scripts/launch.py starts with its local Prometheus (which loads the
project's rules from prometheus/rules). The strip counts an invalid message
over the last 5 minutes exactly, shows the p99 of a click, and, once the
sidecar is stopped, the availability alert SidecarDown firing, linked to the
Alerts page that lists it. Every wait is a poll with a deadline."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from telemetry_testkit.browser_loop import chromium_page, exception_count, launched_loop, shot, table_rows
from telemetry_testkit.procs import require_binary, wait_until
from telemetry_testkit.prom import Prometheus, scrape
from telemetry_testkit.sockets import push_socket

pytestmark = [pytest.mark.browser, pytest.mark.prometheus]
FIRING = re.compile(r"(\d+) alerts? firing")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require_binary("prometheus")
    require_binary("chromium")
    with launched_loop(tmp_path_factory.mktemp("loop")) as info:
        assert info["prometheus"]
        yield info


def api(stack: dict[str, Any], path: str) -> Any:
    return httpx.get(stack["prometheus"] + path, timeout=5).json()["data"]


def strip(page: Any) -> str:
    box = page.locator(".st-key-health")
    return " ".join(box.inner_text().split()) if box.count() else ""


def firing(page: Any) -> int | None:
    match = FIRING.search(strip(page))
    return int(match.group(1)) if match else None


def test_strip_counts_and_the_sidecar_down_alert(stack: dict[str, Any]) -> None:
    prom = Prometheus(stack["prometheus"], None)  # type: ignore[arg-type]  # launch.py owns the process
    rules = api(stack, "/api/v1/rules")["groups"]
    assert "SidecarDown" in {r["name"] for g in rules for r in g["rules"]}  # the project's rules are loaded

    with chromium_page() as page:
        page.goto(stack["ui"])
        prom.wait_for_targets_up(30)  # the UI's /metrics is up once a page has opened
        wait_until(lambda: "sidecar: connected" in strip(page), 30, message="strip: sidecar connected")
        wait_until(lambda: firing(page) is not None, 30, message="strip: firing alerts counted")
        wait_until(lambda: "last 5 min: lost 0 · dropped 0 · invalid 0" in strip(page), 30,
                   message="strip: nothing lost, dropped or invalid")

        # One invalid frame: counted once over the last 5 minutes (not an extrapolated 1.2).
        with push_socket(stack["zmq"]) as raw:  # LINGER 0: kept open until the sidecar has it
            raw.send(b"{not json")
            wait_until(lambda: scrape(stack["sidecar"] + "/metrics/").get('messages_invalid_total{reason="bad_json"}')
                       == 1, 10, message="the sidecar counted the invalid frame")
        wait_until(lambda: "last 5 min: lost 0 · dropped 0 · invalid 1" in strip(page), 30,
                   message="strip: one invalid message")
        # A click: the p99 from click to sidecar becomes a number.
        page.get_by_role("button", name="Buy", exact=True).click()
        wait_until(lambda: re.search(r"p99 click→sidecar \(1 min\): [0-9.]+ ms", strip(page)), 30,
                   message="strip: p99 of the click")
        shot(page, "health-01-strip")

        os.kill(stack["pids"]["metrics-sidecar"], signal.SIGTERM)
        wait_until(lambda: "sidecar: unreachable" in strip(page), 10, message="strip: sidecar unreachable")
        wait_until(lambda: any(a["labels"]["alertname"] == "SidecarDown" and a["state"] == "firing"
                               for a in api(stack, "/api/v1/alerts")["alerts"]), 60,
                   message="Prometheus fires SidecarDown")
        count = wait_until(lambda: (n := firing(page)) and n >= 1 and n, 20, message="strip: alert firing")
        shot(page, "health-02-sidecar-down")

        page.locator(".st-key-health").get_by_text(FIRING).click()  # the link to the Alerts page
        rows = wait_until(lambda: [r for r in table_rows(page, "alerts") if r["alert"] == "SidecarDown"], 20,
                          message="SidecarDown on the Alerts page")
        assert (rows[0]["state"], rows[0]["severity"]) == ("firing", "critical")
        assert rows[0]["summary"].startswith("metrics-sidecar ") and rows[0]["summary"].endswith(" is down")
        assert sum(1 for r in table_rows(page, "alerts") if r["state"] == "firing") >= count
        assert page.url.rstrip("/").endswith("/alerts")
        assert exception_count(page) == 0
        shot(page, "health-03-alerts")
