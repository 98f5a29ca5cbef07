from __future__ import annotations

from pathlib import Path

import pytest

from metrics_sidecar.settings import Settings, SettingsError


def test_defaults_are_loopback_and_the_documented_ports() -> None:
    s = Settings.from_env({}, env_file=None)
    assert (s.zmq_bind, s.host, s.port) == ("tcp://127.0.0.1:5555", "127.0.0.1", 8001)


@pytest.mark.parametrize(("key", "value", "fragment"), [
    ("SIDECAR_PORT", "abc", "SIDECAR_PORT='abc'"),
    ("SIDECAR_PORT", "70000", "SIDECAR_PORT='70000'"),
    ("SIDECAR_ZMQ_BIND", "localhost:5555", "SIDECAR_ZMQ_BIND"),
    ("SIDECAR_LATENCY_BUCKETS", "0.5,0.1", "strictly increasing"),
    ("SIDECAR_LOG_LEVEL", "LOUD", "SIDECAR_LOG_LEVEL"),
])
def test_bad_value_names_the_variable(key: str, value: str, fragment: str) -> None:
    with pytest.raises(SettingsError, match=None) as info:
        Settings.from_env({key: value}, env_file=None)
    assert fragment in str(info.value)


def test_env_file_is_read_and_process_env_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SIDECAR_PORT=9101\nSIDECAR_MAX_SYMBOLS=7\n")
    s = Settings.from_env({"SIDECAR_PORT": "9102"}, env_file=str(env_file))
    assert (s.port, s.max_symbols) == (9102, 7)


def test_bucket_list_parses() -> None:
    s = Settings.from_env({"SIDECAR_LATENCY_BUCKETS": "0.001, 0.01,0.1"}, env_file=None)
    assert s.latency_buckets == (0.001, 0.01, 0.1)


def test_unknown_prefixed_keys_are_ignored_and_the_constructor_reads_no_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SIDECAR_NO_SUCH_SETTING=1\nSIDECAR_MAX_PRODUCERS=9\n")
    s = Settings.from_env({"SIDECAR_ALSO_UNKNOWN": "x"}, env_file=str(env_file))
    assert s.max_producers == 9
    monkeypatch.setenv("SIDECAR_PORT", "9103")
    monkeypatch.chdir(tmp_path)  # the .env above sits in the working directory now
    assert (Settings().port, Settings().max_producers) == (8001, 64)
    assert Settings.from_env().port == 9103
