"""Optional authentication on the real ``trading-app-api``'s POST /trade: an API key
(``x-api-key``) and/or HTTP Basic auth, from the environment. Missing or wrong
credentials get 401 (and publish nothing); right ones get 202. Secrets are made
up per test run: none lives in the repository."""

from __future__ import annotations

import base64
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from telemetry_testkit.procs import BIN, Service, start_api, wait_until
from telemetry_testkit.prom import scrape


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def api_key() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture
def credentials() -> tuple[str, str]:
    return "trader", secrets.token_urlsafe(24)


def _api(tmp_path: Path, sidecar: Service, env: dict[str, str]) -> Iterator[Service]:
    service = start_api(tmp_path / "api", sidecar.zmq, {"WEBAPP_HEARTBEAT_INTERVAL_SECONDS": "0", **env})
    yield service
    service.kill()


@pytest.fixture
def key_api(tmp_path: Path, sidecar: Service, api_key: str) -> Iterator[Service]:
    yield from _api(tmp_path, sidecar, {"WEBAPP_API_KEY": api_key})


@pytest.fixture
def basic_api(tmp_path: Path, sidecar: Service, credentials: tuple[str, str]) -> Iterator[Service]:
    user, password = credentials
    yield from _api(tmp_path, sidecar, {"WEBAPP_BASIC_AUTH_USER": user, "WEBAPP_BASIC_AUTH_PASSWORD": password})


def counted_trades(sidecar: Service, expected: int) -> None:
    """The sidecar counted exactly ``expected`` trades (the refused ones published nothing)."""
    def buys() -> float:
        return scrape(sidecar.http + "/metrics/").get('trades_total{side="buy",symbol=""}', 0)
    wait_until(lambda: buys() == expected, 10, message=f"{expected} trades")
    assert buys() == expected


def first_queued(api: Service, headers: dict[str, str]) -> None:
    """POST (authorised) until the publisher has connected: before that, IMMEDIATE
    drops a click (202, queued false) and the sidecar never sees it."""
    def post() -> bool:
        response = httpx.post(api.http + "/trade/buy", json={"qty": 1}, headers=headers)
        assert response.status_code == 202, response.text
        return bool(response.json()["queued"])
    wait_until(post, 10, interval=0.1, message="a queued trade")


def test_api_key_missing_wrong_right(key_api: Service, sidecar: Service, api_key: str) -> None:
    url = key_api.http + "/trade/buy"
    missing = httpx.post(url, json={"qty": 1})
    assert missing.status_code == 401 and "x-api-key" in missing.json()["detail"][0]["message"]
    wrong = httpx.post(url, json={"qty": 1}, headers={"x-api-key": api_key[:-1] + "x"})
    assert wrong.status_code == 401
    assert httpx.post(url, json={"qty": 1}, headers={"x-api-key": ""}).status_code == 401
    assert api_key not in missing.text + wrong.text  # the secret is never echoed
    first_queued(key_api, {"x-api-key": api_key})  # right -> 202
    right = httpx.post(url, json={"qty": 1}, headers={"x-api-key": api_key})
    assert right.status_code == 202 and right.json()["queued"] is True
    # The 401s published nothing: the sidecar counts the two queued trades only.
    counted_trades(sidecar, 2)


def test_basic_auth_missing_wrong_right(basic_api: Service, sidecar: Service, credentials: tuple[str, str]) -> None:
    user, password = credentials
    url = basic_api.http + "/trade/buy"
    refused = [
        httpx.post(url, json={"qty": 1}),  # missing
        httpx.post(url, json={"qty": 1}, headers=basic(user, password + "x")),  # wrong password
        httpx.post(url, json={"qty": 1}, headers=basic("root", password)),  # wrong user
        httpx.post(url, json={"qty": 1}, headers=basic(user, "")),
        httpx.post(url, json={"qty": 1}, headers={"Authorization": "Basic not-base64!"}),
        httpx.post(url, json={"qty": 1}, headers={"Authorization": f"Bearer {password}"}),
        httpx.post(url, data={"qty": "1"}, follow_redirects=False),  # the seed's form flow too
    ]
    for response in refused:
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == 'Basic realm="trading-app", charset="UTF-8"'
        assert "Basic" in response.json()["detail"][0]["message"] and password not in response.text
    first_queued(basic_api, basic(user, password))  # right -> 202
    right = httpx.post(url, json={"qty": 1}, headers=basic(user, password))
    assert right.status_code == 202 and right.json()["queued"] is True
    form = httpx.post(url, data={"qty": "1"}, headers=basic(user, password), follow_redirects=False)
    assert form.status_code == 303
    counted_trades(sidecar, 3)  # the seven 401s published nothing


def test_both_configured_need_both(tmp_path: Path, sidecar: Service, api_key: str,
                                   credentials: tuple[str, str]) -> None:
    user, password = credentials
    env = {"WEBAPP_API_KEY": api_key, "WEBAPP_BASIC_AUTH_USER": user, "WEBAPP_BASIC_AUTH_PASSWORD": password}
    api = start_api(tmp_path / "api", sidecar.zmq, {"WEBAPP_HEARTBEAT_INTERVAL_SECONDS": "0", **env})
    try:
        url = api.http + "/trade/sell"
        assert httpx.post(url, json={"qty": 1}, headers={"x-api-key": api_key}).status_code == 401
        assert httpx.post(url, json={"qty": 1}, headers=basic(user, password)).status_code == 401
        both = {"x-api-key": api_key, **basic(user, password)}
        assert httpx.post(url, json={"qty": 1}, headers=both).status_code == 202
    finally:
        api.kill()


def test_a_half_configured_basic_auth_stops_the_api_without_echoing_the_password(tmp_path: Path) -> None:
    password = secrets.token_urlsafe(16)
    done = subprocess.run([str(BIN / "trading-app-api")], capture_output=True, text=True, timeout=30, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "WEBAPP_PORT": "0", "WEBAPP_BASIC_AUTH_PASSWORD": password})
    assert done.returncode == 2
    assert "WEBAPP_BASIC_AUTH_USER" in done.stderr and password not in done.stderr + done.stdout
