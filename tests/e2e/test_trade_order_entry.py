"""POST /trade on the real ``trading-app-api``: the desk's order-entry rules
(issue 15: qty > 0 and <= WEBAPP_MAX_QTY, symbol in WEBAPP_SYMBOLS unless that
list is empty), in the one error shape, publishing nothing when refused; and, in
reliable mode, a trade the outbox refuses is a visible refusal, never "accepted"
(issue 18, finding 3): 503 saying why for JSON, a refusal page for a form."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from telemetry_testkit.procs import BIN, Service, free_port, start_api, start_ready, wait_until
from telemetry_testkit.prom import scrape


def trade_counts(api: Service) -> dict[str, float]:
    """The API's own publisher counters for trades (the non-zero ones): sent, and dropped by reason."""
    out: dict[str, float] = {}
    for key, value in scrape(api.http + "/metrics").items():
        if key.startswith("publisher_messages_") and 'type="trade"' in key and value:
            out[key] = value
    return out


def buys(sidecar: Service) -> float:
    return sum(v for k, v in scrape(sidecar.http + "/metrics/").items() if k.startswith('trades_total{side="buy"'))


@pytest.fixture
def desk(tmp_path: Path, sidecar: Service) -> Iterator[Service]:
    service = start_api(tmp_path / "api", sidecar.zmq, {"WEBAPP_HEARTBEAT_INTERVAL_SECONDS": "0",
                                                        "WEBAPP_MAX_QTY": "100", "WEBAPP_SYMBOLS": "BTCUSDT,ETHUSDT"})
    yield service
    service.kill()


def test_order_entry_rules_refuse_with_one_shape_and_publish_nothing(desk: Service, sidecar: Service) -> None:
    url = desk.http + "/trade/buy"
    refused = [
        ({"json": {"qty": -5}}, "body.qty", "Input should be greater than 0"),
        ({"json": {"qty": 0}}, "body.qty", "Input should be greater than 0"),
        ({"data": {"qty": "0"}}, "body.qty", "Input should be greater than 0"),
        ({"json": {"qty": 100.5}}, "body.qty", "must be <= 100 (WEBAPP_MAX_QTY)"),
        ({"json": {"qty": 1e308}}, "body.qty", "must be <= 100 (WEBAPP_MAX_QTY)"),
        ({"data": {"qty": "101"}}, "body.qty", "must be <= 100 (WEBAPP_MAX_QTY)"),
        ({"json": {"qty": 1, "symbol": "DOGEUSDT"}}, "body.symbol",
         "'DOGEUSDT' is not traded here; one of BTCUSDT, ETHUSDT (WEBAPP_SYMBOLS)"),
        ({"data": {"qty": "1", "symbol": "DOGEUSDT"}}, "body.symbol",
         "'DOGEUSDT' is not traded here; one of BTCUSDT, ETHUSDT (WEBAPP_SYMBOLS)"),
        ({"json": {"qty": 1, "side": "buy"}}, "body.side", "Extra inputs are not permitted"),
        ({"data": {}}, "body.qty", "Field required"),
    ]
    for kwargs, field, message in refused:
        response = httpx.post(url, follow_redirects=False, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 422, (kwargs, response.text)
        assert response.json() == {"detail": [{"field": field, "message": message}]}, kwargs
    assert trade_counts(desk) == {}  # not one trade published or dropped
    # The edges are accepted: the maximum itself, and a listed symbol.
    wait_until(lambda: httpx.post(url, json={"qty": 100, "symbol": "ETHUSDT"}).json()["queued"], 10,
               interval=0.1, message="a queued trade at the maximum")
    assert httpx.post(url, data={"qty": "100", "symbol": "BTCUSDT"}, follow_redirects=False).status_code == 303
    wait_until(lambda: buys(sidecar) >= 2, 10, message="the accepted trades counted")
    assert trade_counts(desk).get('publisher_messages_sent_total{type="trade"}') == buys(sidecar)


def test_an_empty_symbol_list_accepts_any_wire_symbol(tmp_path: Path, sidecar: Service) -> None:
    api = start_api(tmp_path / "api", sidecar.zmq, {"WEBAPP_HEARTBEAT_INTERVAL_SECONDS": "0", "WEBAPP_SYMBOLS": ""})
    try:
        wait_until(lambda: httpx.post(api.http + "/trade/buy", json={"qty": 2, "symbol": "DOGEUSDT"}).json()["queued"],
                   10, interval=0.1, message="a queued DOGEUSDT trade")
        bad = httpx.post(api.http + "/trade/buy", json={"qty": 2, "symbol": "bad symbol"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "body.symbol"
    finally:
        api.kill()


def reliable_api(tmp_path: Path, env: dict[str, str], fsize: int | None = None) -> Service:
    """A reliable-mode API whose sidecar never answers (nothing listens on its
    port): every accepted trade stays in the outbox. ``fsize``: RLIMIT_FSIZE of
    the process, so that the outbox's SQLite writes fail once its files reach it."""
    base = {"WEBAPP_PORT": "0", "WEBAPP_HOST": "127.0.0.1", "WEBAPP_DELIVERY": "reliable",
            "WEBAPP_ZMQ_ADDR": f"tcp://127.0.0.1:{free_port()}", "WEBAPP_OUTBOX_DIR": str(tmp_path / "outbox"),
            "WEBAPP_HEARTBEAT_INTERVAL_SECONDS": "0"}
    cmd = [str(BIN / "trading-app-api")]
    if fsize is not None:
        cmd = [sys.executable, "-c", "import os, resource, sys; "
               f"resource.setrlimit(resource.RLIMIT_FSIZE, ({fsize}, {fsize})); os.execv(sys.argv[1], sys.argv[1:])",
               *cmd]
    return start_ready("trading-app-api", cmd, {**base, **env}, tmp_path / "api")


def test_a_full_outbox_refuses_visibly(tmp_path: Path) -> None:
    api = reliable_api(tmp_path, {"WEBAPP_OUTBOX_MAX_MESSAGES": "2"})
    try:
        url = api.http + "/trade/sell"
        for _ in range(2):
            accepted = httpx.post(url, json={"qty": 1})
            assert accepted.status_code == 202 and accepted.json()["queued"] is True
        refused = httpx.post(url, json={"qty": 1})
        assert refused.status_code == 503
        assert refused.json() == {"detail": [{"field": "request", "message": (
            "trade refused: the outbox is full (the sidecar has been unreachable for WEBAPP_OUTBOX_MAX_MESSAGES "
            "messages); retry later")}]}
        form = httpx.post(url, data={"qty": "1"}, follow_redirects=False)
        assert form.status_code == 503 and "location" not in form.headers
        assert form.headers["content-type"].startswith("text/html")
        assert "Trade refused" in form.text and "the outbox is full" in form.text
        assert trade_counts(api) == {'publisher_messages_sent_total{type="trade"}': 2,
                                     'publisher_messages_dropped_total{reason="outbox_full",type="trade"}': 2}
    finally:
        api.kill()


def test_an_outbox_write_error_refuses_visibly(tmp_path: Path) -> None:
    api = reliable_api(tmp_path, {}, fsize=48 * 1024)  # a few hundred trades fill it
    reason = "the outbox could not store the trade (disk error); retry later"
    try:
        url = api.http + "/trade/buy"
        accepted = 0
        refused = {"json": 0, "form": 0}
        # Each accepted trade grows the outbox (nothing is acked) until a write would
        # take the WAL or the database file past the limit and fails. JSON posts
        # until one is refused, then form posts likewise (bounded).
        for kind in ("json", "form"):
            for _ in range(5000):
                response = httpx.post(url, follow_redirects=False,
                                      **({"json": {"qty": 1}} if kind == "json" else {"data": {"qty": "1"}}))
                if response.status_code == 202:
                    assert response.json()["queued"] is True  # 202 is never "not queued" in reliable mode
                    accepted += 1
                    continue
                if response.status_code == 303:
                    accepted += 1
                    continue
                assert response.status_code == 503, response.text
                if kind == "json":
                    assert response.json() == {"detail": [{"field": "request", "message": f"trade refused: {reason}"}]}
                else:
                    assert "location" not in response.headers  # not a success redirect
                    assert response.headers["content-type"].startswith("text/html")
                    assert "Trade refused" in response.text and reason in response.text
                refused[kind] += 1
                break
        assert accepted > 0 and all(refused.values()), (accepted, refused)
        counts = trade_counts(api)
        assert counts['publisher_messages_sent_total{type="trade"}'] == accepted
        assert counts['publisher_messages_dropped_total{reason="outbox_error",type="trade"}'] == sum(refused.values())
    finally:
        api.kill()


def test_the_openapi_shows_the_trade_body_and_the_one_error_shape(desk: Service) -> None:
    spec = httpx.get(desk.http + "/openapi.json", timeout=10).json()
    op = spec["paths"]["/trade/{side}"]["post"]
    content = op["requestBody"]["content"]
    assert op["requestBody"]["required"] is True and set(content) == {"application/json",
                                                                       "application/x-www-form-urlencoded"}
    as_json = content["application/json"]["schema"]
    assert set(as_json["properties"]) == {"qty", "symbol", "price"} and as_json["required"] == ["qty"]
    assert as_json["additionalProperties"] is False
    assert (as_json["properties"]["qty"]["exclusiveMinimum"], as_json["properties"]["qty"]["maximum"]) == (0, 100)
    assert as_json["properties"]["symbol"]["anyOf"][0]["enum"] == ["BTCUSDT", "ETHUSDT"]
    form = content["application/x-www-form-urlencoded"]["schema"]
    assert form["properties"]["symbol"]["enum"] == ["BTCUSDT", "ETHUSDT"]  # a form field is never null
    error = {"$ref": "#/components/schemas/ErrorBody"}
    assert {"202", "303", "422", "4XX", "503"} <= set(op["responses"])
    for status in ("422", "4XX", "503"):
        assert op["responses"][status]["content"]["application/json"]["schema"] == error, status
    assert "text/html" in op["responses"]["503"]["content"]  # the form's refusal page
    schemas = spec["components"]["schemas"]
    assert schemas["ErrorBody"]["properties"]["detail"]["items"] == {"$ref": "#/components/schemas/ErrorItem"}
    assert set(schemas["ErrorItem"]["properties"]) == set(schemas["ErrorItem"]["required"]) == {"field", "message"}
