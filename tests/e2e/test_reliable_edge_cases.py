"""Lossless mode, the edges: publishing while no sidecar runs, an invalid message
in the stream, a full outbox, a sidecar that lost its state directory, and the
API choosing the mode from ``WEBAPP_DELIVERY``."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from telemetry_testkit.procs import free_port, start_api, wait_until
from telemetry_testkit.prom import scrape
from telemetry_testkit.reliable import RestartableSidecar, total
from trading_app.telemetry.reliable import ReliablePublisher


def test_accepted_while_no_sidecar_runs_then_delivered_when_it_starts(tmp_path: Path) -> None:
    port = free_port()
    pub = ReliablePublisher(f"tcp://127.0.0.1:{port}", tmp_path / "outbox.sqlite", producer="early",
                            heartbeat_interval=0, ack_timeout=0.2)
    sidecar = RestartableSidecar(tmp_path, {"SIDECAR_RELIABLE_BIND": f"tcp://127.0.0.1:{port}"})
    try:
        results = [pub.trade("buy", 2.0, symbol="BTCUSDT") for _ in range(500)]
        assert all(r.queued for r in results) and not pub.connected  # accepted = durable, not delivered
        sidecar.start()
        metrics = wait_until(lambda: (m := sidecar.metrics()) and total(m, "trades_total") == 500 and m, 20,
                             message="the backlog delivered")
        wait_until(lambda: pub.unacked() == 0, 10, message="all acked")
    finally:
        if sidecar.service is not None:
            sidecar.kill9()
        pub.close(drain_seconds=0)
    assert metrics['volume_total{side="buy",symbol="BTCUSDT"}'] == 1000.0
    assert metrics['messages_lost_total{producer="early"}'] == 0


def test_an_invalid_message_is_counted_and_never_stalls_the_stream(tmp_path: Path) -> None:
    sidecar = RestartableSidecar(tmp_path)
    sidecar.start()
    pub = ReliablePublisher(sidecar.reliable, tmp_path / "outbox.sqlite", producer="bad", heartbeat_interval=0)
    try:
        pub.trade("buy", 1.0, symbol="OK")
        assert pub.trade("buy", 1.0, symbol="not a symbol!").queued  # the publisher does not validate labels
        pub.trade("buy", 1.0, symbol="OK")
        metrics = wait_until(lambda: (m := sidecar.metrics()) and total(m, "trades_total") == 2 and m, 10,
                             message="the valid neighbours counted")
        wait_until(lambda: pub.unacked() == 0, 10, message="the invalid one acked too")
    finally:
        sidecar.kill9()
        pub.close(drain_seconds=0)
    assert metrics['messages_invalid_total{reason="bad_field"}'] == 1
    # Same as fire-and-forget: a rejected message is also a gap in the producer's seq.
    assert metrics['messages_lost_total{producer="bad"}'] == 1


def test_a_full_outbox_refuses_and_counts(tmp_path: Path) -> None:
    pub = ReliablePublisher(f"tcp://127.0.0.1:{free_port()}", tmp_path / "outbox.sqlite", producer="full",
                            heartbeat_interval=0, max_pending=100)
    try:
        results = [pub.trade("sell", 1.0) for _ in range(150)]
    finally:
        pub.close(drain_seconds=0)
    assert sum(r.queued for r in results) == 100
    assert {r.reason for r in results[100:]} == {"outbox_full"}
    assert pub.stats().dropped == {("trade", "outbox_full"): 50}
    # Refused before the stamp: no seq was consumed, and the message says so (no None placeholders).
    assert [r.message["seq"] for r in results[:100]] == list(range(1, 101))
    assert [sorted(r.message) for r in results[100:]] == [["qty", "side", "ts", "type"]] * 50
    # Still there for the next start: a refused message never consumed a seq.
    assert [r.seq for r in results[:100]] == list(range(1, 101))


def test_a_sidecar_that_lost_its_state_resumes_instead_of_stalling(tmp_path: Path) -> None:
    sidecar = RestartableSidecar(tmp_path)
    sidecar.start()
    pub = ReliablePublisher(sidecar.reliable, tmp_path / "outbox.sqlite", producer="amnesia", heartbeat_interval=0,
                            ack_timeout=0.2)
    try:
        for _ in range(300):
            pub.trade("buy", 1.0, symbol="ETHUSDT")
        wait_until(lambda: pub.unacked() == 0, 10, message="first 300 acked")
        sidecar.kill9()
        shutil.rmtree(tmp_path / "state")  # the disk is gone: those 300 are lost with it
        sidecar.start()
        for _ in range(200):
            pub.trade("buy", 1.0, symbol="ETHUSDT")
        metrics = wait_until(lambda: (m := sidecar.metrics()) and total(m, "trades_total") == 200 and m, 20,
                             message="the stream resumed after the acked part")
        wait_until(lambda: pub.unacked() == 0, 10, message="all acked")
    finally:
        sidecar.kill9()
        pub.close(drain_seconds=0)
    assert metrics['messages_lost_total{producer="amnesia"}'] == 0


def test_the_api_publishes_reliably_when_asked(tmp_path: Path) -> None:
    sidecar = RestartableSidecar(tmp_path)
    sidecar.start()
    api = start_api(tmp_path / "api", sidecar.reliable,
                    {"WEBAPP_DELIVERY": "reliable", "WEBAPP_OUTBOX_DIR": str(tmp_path / "outbox"),
                     "WEBAPP_HEARTBEAT_INTERVAL_SECONDS": "0.2"})
    try:
        # The ready line comes before uvicorn listens: wait until the API answers.
        wait_until(lambda: httpx.get(api.http + "/health", timeout=1).status_code == 200, 10, message="API up")
        for _ in range(5):
            response = httpx.post(api.http + "/trade/buy", json={"qty": 3, "symbol": "SOLUSDT", "price": 10}, timeout=5)
            assert response.status_code == 202 and response.json()["queued"] is True
        metrics = wait_until(lambda: (m := sidecar.metrics()) and total(m, "trades_total") == 5 and m, 10,
                             message="5 API trades")
        wait_until(lambda: sidecar.metrics().get('producer_up{producer="trading-app-api"}') == 1, 10,
                   message="heartbeats over the reliable channel")
        own = wait_until(lambda: (m := scrape(api.http + "/metrics")) and m["publisher_outbox_unacked_messages"] == 0
                         and m, 10, message="the API's outbox drained")
        assert own['publisher_messages_sent_total{type="trade"}'] == 5
        assert own['publisher_messages_dropped_total{reason="outbox_full",type="trade"}'] == 0
        assert own["publisher_outbox_resent_total"] == 0
        assert api.stop() == 0
    finally:
        api.kill()
        sidecar.kill9()
    assert metrics['volume_total{side="buy",symbol="SOLUSDT"}'] == 15.0
    assert (tmp_path / "outbox" / "trading-app-api.sqlite").exists()
