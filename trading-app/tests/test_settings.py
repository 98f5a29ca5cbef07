from __future__ import annotations

from pathlib import Path

import pytest

from trading_app.settings import AppSettings, SettingsError


def test_defaults_match_the_documented_interface() -> None:
    s = AppSettings.from_env({}, env_file=None)
    assert (s.zmq_addr, s.host, s.port, s.ui_port, s.sidecar_url) == (
        "tcp://127.0.0.1:5555", "127.0.0.1", 8000, 8501, "http://127.0.0.1:8001")


@pytest.mark.parametrize(("key", "value"), [
    ("WEBAPP_PORT", "eighty"), ("WEBAPP_UI_PORT", "-1"), ("WEBAPP_ZMQ_ADDR", "127.0.0.1:5555"),
    ("WEBAPP_SIDECAR_URL", "ftp://x"), ("WEBAPP_FEED", "nasdaq"),
])
def test_bad_value_names_the_variable(key: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        AppSettings.from_env({key: value}, env_file=None)
    assert f"{key}={value!r}" in str(info.value)


def test_env_file_and_several_endpoints(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("WEBAPP_ZMQ_ADDR=tcp://127.0.0.1:1, tcp://127.0.0.1:2\n")
    s = AppSettings.from_env({}, env_file=str(env_file))
    assert s.zmq_addr == "tcp://127.0.0.1:1,tcp://127.0.0.1:2"


def test_process_env_wins_over_env_file_and_unknown_prefixed_keys_are_ignored(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("WEBAPP_PORT=9001\nWEBAPP_UI_PORT=9002\nWEBAPP_NO_SUCH_SETTING=1\n")
    s = AppSettings.from_env({"WEBAPP_PORT": "9003", "WEBAPP_ALSO_UNKNOWN": "x"}, env_file=str(env_file))
    assert (s.port, s.ui_port) == (9003, 9002)
