"""Secure defaults: every listener binds to 127.0.0.1 unless configured otherwise
(docs/security.md explains binding elsewhere and its risk)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from metrics_sidecar.settings import Settings
from telemetry_testkit.procs import BIN, start_ready
from trading_app.settings import AppSettings


def test_default_settings_bind_loopback_only() -> None:
    sidecar, app = Settings(), AppSettings()
    assert sidecar.zmq_bind.startswith("tcp://127.0.0.1:")
    assert sidecar.host == "127.0.0.1"
    assert app.host == "127.0.0.1"
    assert all(addr.startswith("tcp://127.0.0.1:") for addr in app.zmq_addr.split(","))
    # Authentication and encryption are opt-in, and nothing secret has a default.
    assert (app.api_key, app.basic_auth_user, app.basic_auth_password) == ("", "", "")
    assert (sidecar.curve_secret_key_file, app.curve_secret_key_file) == ("", "")


def test_real_processes_listen_on_loopback_when_no_host_is_given(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("SIDECAR_HOST", "WEBAPP_HOST"):
        monkeypatch.delenv(key, raising=False)
    sidecar = start_ready("metrics-sidecar", [str(BIN / "metrics-sidecar")],
                          {"SIDECAR_PORT": "0", "SIDECAR_ZMQ_BIND": "tcp://127.0.0.1:0"}, tmp_path / "sidecar")
    try:
        assert sidecar.http.startswith("http://127.0.0.1:")
        env = {"WEBAPP_PORT": "0", "WEBAPP_ZMQ_ADDR": sidecar.zmq, "WEBAPP_HEARTBEAT_INTERVAL_SECONDS": "0"}
        api = start_ready("trading-app-api", [str(BIN / "trading-app-api")], env, tmp_path / "api")
        try:
            assert api.http.startswith("http://127.0.0.1:")
            assert httpx.get(api.http + "/health").status_code == 200
        finally:
            api.kill()
        assert httpx.get(sidecar.http + "/health").status_code == 200
    finally:
        sidecar.kill()
