"""ZeroMQ CURVE between real processes: keys from the real ``telemetry-keygen``, a
real sidecar with an allow-list; a known client's messages are counted, an
unknown key and a plain-TCP client are refused and none of their messages is."""

from __future__ import annotations

import contextlib
import json
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import zmq
from zmq.auth import load_certificate
from zmq.utils.monitor import recv_monitor_message

from telemetry_testkit.procs import BIN, Service, start_api, start_sidecar, wait_until
from telemetry_testkit.prom import scrape


@dataclass
class Keys:
    dir: Path
    allowed: Path

    def secret(self, name: str) -> Path:
        return self.dir / f"{name}.key_secret"

    def public(self, name: str) -> Path:
        return self.dir / f"{name}.key"


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    """sidecar, good and bad key pairs; only good's public key is allowed."""
    key_dir = tmp_path / "keys"
    for name in ("sidecar", "good", "bad"):
        done = subprocess.run([str(BIN / "telemetry-keygen"), name, "--dir", str(key_dir)],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "good.key").write_bytes((key_dir / "good.key").read_bytes())
    return Keys(key_dir, allowed)


@pytest.fixture
def curve_sidecar(tmp_path: Path, keys: Keys) -> Iterator[Service]:
    service = start_sidecar(tmp_path / "sidecar", {
        "SIDECAR_CURVE_SECRET_KEY_FILE": str(keys.secret("sidecar")),
        "SIDECAR_CURVE_ALLOWED_KEYS_DIR": str(keys.allowed)})
    yield service
    service.kill()


class Client:
    """A plain pyzmq PUSH (optionally a CURVE client) with its socket monitor."""

    def __init__(self, ctx: zmq.Context, endpoint: str, keys: Keys, name: str | None) -> None:
        self.sock = ctx.socket(zmq.PUSH)
        self.sock.linger = 0
        if name is not None:
            public, secret = load_certificate(keys.secret(name))
            self.sock.curve_publickey, self.sock.curve_secretkey = public, secret
            self.sock.curve_serverkey = load_certificate(keys.public("sidecar"))[0]
        self.monitor = self.sock.get_monitor_socket()
        self.events: list[zmq.Event] = []
        self.sock.connect(endpoint)

    def wait_for(self, *wanted: zmq.Event, timeout: float = 10) -> None:
        """Until one of ``wanted`` is seen on the monitor."""
        deadline = time.monotonic() + timeout
        while not set(wanted) & set(self.events):
            assert time.monotonic() < deadline, (
                f"none of {[e.name for e in wanted]}; saw {sorted({e.name for e in self.events}, key=str)}")
            if self.monitor.poll(50):
                self.events.append(zmq.Event(recv_monitor_message(self.monitor)["event"]))

    def close(self) -> None:
        self.sock.disable_monitor()
        self.monitor.close()
        self.sock.close()


def trade(qty: float) -> bytes:
    return json.dumps({"type": "trade", "side": "buy", "qty": qty, "ts": time.time()}).encode()


def test_keygen_writes_a_private_secret_file(keys: Keys) -> None:
    secret_mode = stat.S_IMODE(keys.secret("good").stat().st_mode)
    public_mode = stat.S_IMODE(keys.public("good").stat().st_mode)
    assert (oct(secret_mode), oct(public_mode)) == ("0o600", "0o644")
    public, secret = load_certificate(keys.secret("good"))
    assert secret is not None and zmq.curve_public(secret) == public
    assert load_certificate(keys.public("good")) == (public, None)  # the public file holds no secret
    again = subprocess.run([str(BIN / "telemetry-keygen"), "good", "--dir", str(keys.dir)],
                           capture_output=True, text=True, timeout=30)
    assert again.returncode == 1 and "exists" in again.stderr  # never silently replaces a key pair
    assert load_certificate(keys.secret("good")) == (public, secret)


def test_known_key_is_counted_unknown_key_and_plain_tcp_are_refused(curve_sidecar: Service, keys: Keys) -> None:
    ctx = zmq.Context()
    good = Client(ctx, curve_sidecar.zmq, keys, "good")
    bad = Client(ctx, curve_sidecar.zmq, keys, "bad")
    plain = Client(ctx, curve_sidecar.zmq, keys, None)
    try:
        for _ in range(50):
            good.sock.send(trade(1))
            # Without IMMEDIATE these usually queue locally; they must never reach the sidecar.
            # While a refused connection is torn down and re-made the pipe can be gone, and a
            # NOBLOCK send gets EAGAIN: that frame is not sent at all, which is just as good.
            for refused in (bad, plain):
                with contextlib.suppress(zmq.Again):
                    refused.sock.send(trade(1000), zmq.NOBLOCK)
        good.wait_for(zmq.Event.HANDSHAKE_SUCCEEDED)
        bad.wait_for(zmq.Event.HANDSHAKE_FAILED_AUTH)
        # A plain-TCP peer fails the mechanism check; libzmq reports it as PROTOCOL or, on
        # 4.3.5 (pyzmq 27's bundled libzmq), as NO_DETAIL. Either is a refused handshake.
        plain.wait_for(zmq.Event.HANDSHAKE_FAILED_PROTOCOL, zmq.Event.HANDSHAKE_FAILED_NO_DETAIL)
        assert zmq.Event.HANDSHAKE_SUCCEEDED not in plain.events
        wait_until(lambda: scrape(curve_sidecar.http + "/metrics/").get('trades_total{side="buy",symbol=""}') == 50,
                   10, message="50 trades from the known key")
        for _ in range(50):  # after the refusals: the sidecar still serves the known client
            good.sock.send(trade(2))
        metrics = wait_until(lambda: (m := scrape(curve_sidecar.http + "/metrics/"))
                             and m.get('trades_total{side="buy",symbol=""}') == 100 and m, 10, message="100 trades")
        assert metrics['volume_total{side="buy",symbol=""}'] == 150  # not one 1000-qty trade got in
        assert metrics['messages_received_total{type="trade"}'] == 100
        assert sum(v for k, v in metrics.items() if k.startswith("messages_invalid_total")) == 0
        bad_key = load_certificate(keys.public("bad"))[0].decode()
        assert f"public key {bad_key} is not in the allow-list" in curve_sidecar.log()
        assert curve_sidecar.popen.poll() is None
    finally:
        for client in (good, bad, plain):
            client.close()
        ctx.term()


def test_trading_app_publishes_over_curve(tmp_path: Path, curve_sidecar: Service, keys: Keys) -> None:
    """The real API with WEBAPP_CURVE_*: its trades count; with an unknown key they never do."""
    good_env = {"WEBAPP_CURVE_SECRET_KEY_FILE": str(keys.secret("good")),
                "WEBAPP_CURVE_SERVER_KEY_FILE": str(keys.public("sidecar")), "WEBAPP_HEARTBEAT_INTERVAL_SECONDS": "0"}
    bad_env = {**good_env, "WEBAPP_CURVE_SECRET_KEY_FILE": str(keys.secret("bad"))}
    good_api = start_api(tmp_path / "good-api", curve_sidecar.zmq, good_env)
    bad_api = start_api(tmp_path / "bad-api", curve_sidecar.zmq, bad_env)
    try:
        assert wait_until(lambda: httpx.post(good_api.http + "/trade/buy", json={"qty": 3}).json()["queued"], 10,
                          interval=0.1, message="the good API's first queued trade")
        wait_until(lambda: scrape(curve_sidecar.http + "/metrics/").get('trades_total{side="buy",symbol=""}') == 1,
                   10, message="the good API's trade counted")
        for _ in range(5):
            refused = httpx.post(bad_api.http + "/trade/sell", json={"qty": 1})
            assert refused.status_code == 202 and refused.json()["queued"] is False  # dropped and counted there
        assert httpx.post(good_api.http + "/trade/buy", json={"qty": 4}).json()["queued"] is True
        metrics = wait_until(lambda: (m := scrape(curve_sidecar.http + "/metrics/"))
                             and m.get('trades_total{side="buy",symbol=""}') == 2 and m, 10, message="2 trades")
        assert metrics['volume_total{side="buy",symbol=""}'] == 7
        assert 'trades_total{side="sell",symbol=""}' not in metrics
        # The refused app knows: not connected, and its trades are counted as no_peer drops.
        assert httpx.get(bad_api.http + "/health").json()["sidecar_connected"] is False
        assert scrape(bad_api.http + "/metrics").get(
            'publisher_messages_dropped_total{reason="no_peer",type="trade"}') == 5
    finally:
        good_api.kill()
        bad_api.kill()


def test_a_bad_key_file_stops_the_sidecar_at_start_with_the_variable_named(tmp_path: Path, keys: Keys) -> None:
    env = {"SIDECAR_PORT": "0", "SIDECAR_ZMQ_BIND": "tcp://127.0.0.1:0",
           "SIDECAR_CURVE_SECRET_KEY_FILE": str(keys.public("sidecar")),  # a public file: no secret in it
           "SIDECAR_CURVE_ALLOWED_KEYS_DIR": str(keys.allowed)}
    done = subprocess.run([str(BIN / "metrics-sidecar")], env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert done.returncode == 2
    assert "SIDECAR_CURVE_SECRET_KEY_FILE" in done.stderr and "secret-key" in done.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    env.update(SIDECAR_CURVE_SECRET_KEY_FILE=str(keys.secret("sidecar")), SIDECAR_CURVE_ALLOWED_KEYS_DIR=str(empty))
    done = subprocess.run([str(BIN / "metrics-sidecar")], env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert done.returncode == 2
    assert "SIDECAR_CURVE_ALLOWED_KEYS_DIR" in done.stderr and "no client public key" in done.stderr
