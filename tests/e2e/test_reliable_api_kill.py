"""Lossless mode end to end: the real ``trading-app-api`` process (WEBAPP_DELIVERY=
reliable) is killed with -9 in the middle of a stream of POSTs, then started again
on the same outbox; every trade it accepted (202 for JSON, 303 for a form) is
counted exactly once by the real sidecar."""

from __future__ import annotations

import signal
import sqlite3
import threading
from pathlib import Path

import httpx

from telemetry_testkit.procs import Service, start_api, wait_until
from telemetry_testkit.reliable import RestartableSidecar, total

PRODUCER = "desk"


class Poster(threading.Thread):
    """POSTs trades one at a time, JSON and form alternating, each with its own
    quantity, until the API stops answering. Sequential: at most one request is
    in flight when the process dies."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.accepted: list[float] = []  # qty of every trade answered 202/303
        self.unanswered: float | None = None  # qty of the request the kill cut off, if any
        self.refused: list[int] = []

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            for i in range(1, 1_000_000):
                qty = float(i)
                try:
                    if i % 2:
                        response = client.post(f"{self.base}/trade/buy", json={"qty": qty, "symbol": "BTCUSDT"})
                    else:
                        response = client.post(f"{self.base}/trade/buy", data={"qty": str(qty), "symbol": "BTCUSDT"},
                                               follow_redirects=False)
                except httpx.TransportError:
                    self.unanswered = qty
                    return
                if response.status_code in (202, 303):
                    self.accepted.append(qty)
                else:
                    self.refused.append(response.status_code)
                    return


def _outbox_rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])


def _api(tmp_path: Path, name: str, sidecar: RestartableSidecar) -> Service:
    return start_api(tmp_path / name, sidecar.reliable, {
        "WEBAPP_DELIVERY": "reliable", "WEBAPP_OUTBOX_DIR": str(tmp_path / "outbox"), "WEBAPP_PRODUCER": PRODUCER,
        "WEBAPP_HEARTBEAT_INTERVAL_SECONDS": "0"})


def test_kill9_api_mid_post_stream_every_accepted_trade_counted_once(tmp_path: Path) -> None:
    sidecar = RestartableSidecar(tmp_path)
    sidecar.start()
    api = _api(tmp_path, "api1", sidecar)
    restarted: Service | None = None
    poster = Poster(api.http)
    try:
        poster.start()
        wait_until(lambda: total(sidecar.metrics(), "trades_total") >= 50, 60, message="delivery under way")
        # Freeze the sidecar so that at the kill some accepted trades are counted and the
        # rest are unacked in the outbox (sent or not yet sent).
        assert sidecar.service is not None
        sidecar.service.popen.send_signal(signal.SIGSTOP)
        try:
            frozen_at = len(poster.accepted)
            wait_until(lambda: len(poster.accepted) >= frozen_at + 50, 60, message="trades accepted while frozen")
            api.kill()  # SIGKILL mid-stream: no shutdown code runs
            poster.join(30)
            assert not poster.is_alive() and poster.refused == []
        finally:
            sidecar.service.popen.send_signal(signal.SIGCONT)
        outbox = tmp_path / "outbox" / f"{PRODUCER}-api.sqlite"  # the API process names itself <producer>-api
        assert _outbox_rows(outbox) > 0

        restarted = _api(tmp_path, "api2", sidecar)  # resends the outbox on start
        wait_until(lambda: _outbox_rows(outbox) == 0, 60, interval=0.1, message="outbox drained (all acked)")
        assert restarted.stop() == 0
        metrics = sidecar.metrics()
    finally:
        api.kill()
        if restarted is not None:
            restarted.kill()
        sidecar.kill9()

    accepted, cut_off = poster.accepted, poster.unanswered
    # The one request the kill cut off may or may not have reached the outbox; its quantity is
    # unique, so the volume says which. Every answered trade is counted exactly once.
    extra = int(total(metrics, "trades_total")) - len(accepted)
    assert extra in (0, 1) and (extra == 0 or cut_off is not None), (extra, cut_off)
    assert total(metrics, "volume_total") == sum(accepted) + (cut_off or 0.0) * extra
    assert metrics['messages_received_total{type="trade"}'] == len(accepted) + extra
    assert metrics[f'messages_lost_total{{producer="{PRODUCER}-api"}}'] == 0
    print(f"\n{len(accepted)} trades accepted, cut off: {cut_off}, counted: {len(accepted) + extra}, "
          f"resent as duplicates: {metrics.get('messages_duplicate_total', 0):.0f}")
