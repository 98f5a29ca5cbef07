"""Feed settings (WEBAPP_*) and the CLI's flag handling and error exits
(the running CLI is tested with real processes in tests/e2e/test_feeds_*.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from telemetry_testkit.procs import free_port
from trading_app.feeds import cli
from trading_app.feeds.runner import build_feed, csv_paths
from trading_app.feeds.sim import SimFeed
from trading_app.settings import AppSettings, SettingsError
from trading_app.telemetry.push import PushPublisher as Publisher


def test_feed_defaults() -> None:
    s = AppSettings.from_env({}, env_file=None)
    assert (s.feed, s.tps, s.feed_seed, s.feed_speed, s.feed_csv_path, s.feed_max_gap_seconds) == (
        "none", 2.0, None, "1", "", 0.0)
    assert s.binance_url == "wss://stream.binance.com:9443/ws/btcusdt@trade"
    assert (s.feed_backoff_initial_seconds, s.feed_backoff_max_seconds) == (0.5, 30.0)


def test_feed_settings_from_env() -> None:
    s = AppSettings.from_env({"WEBAPP_TPS": "50", "WEBAPP_FEED_SEED": "7", "WEBAPP_FEED_SPEED": "60x",
                              "WEBAPP_BINANCE_URL": "ws://127.0.0.1:9/ws", "WEBAPP_FEED": "binance"}, env_file=None)
    assert (s.tps, s.feed_seed, s.feed_speed, s.binance_url, s.feed) == (50.0, 7, "60x", "ws://127.0.0.1:9/ws",
                                                                         "binance")


@pytest.mark.parametrize(("key", "value"), [
    ("WEBAPP_TPS", "0"), ("WEBAPP_TPS", "fast"), ("WEBAPP_FEED_SPEED", "0"), ("WEBAPP_FEED_SPEED", "warp"),
    ("WEBAPP_FEED_SPEED", "-2"), ("WEBAPP_BINANCE_URL", "https://api.binance.com"), ("WEBAPP_FEED_SEED", "x"),
    ("WEBAPP_FEED_MAX_GAP_SECONDS", "-1"), ("WEBAPP_FEED_BACKOFF_MAX_SECONDS", "0"),
])
def test_bad_feed_setting_names_the_variable(key: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        AppSettings.from_env({key: value}, env_file=None)
    assert f"{key}={value!r}" in str(info.value)


def test_flags_override_env() -> None:
    base = AppSettings.from_env({"WEBAPP_TPS": "5", "WEBAPP_SYMBOLS": "A,B"}, env_file=None)
    args = cli.parse_args(["--source", "sim", "--tps", "100", "--seed", "3", "--speed", "MAX", "--file", "a.csv",
                           "--file", "b.csv", "--url", "ws://127.0.0.1:1/ws"])
    s = cli.settings_with_flags(base, args)
    assert (s.tps, s.feed_seed, s.symbols, s.feed_speed, s.feed_csv_path, s.binance_url) == (
        100.0, 3, "A,B", "max", "a.csv,b.csv", "ws://127.0.0.1:1/ws")
    with pytest.raises(SettingsError, match=r"--tps=-1\.0: Input should be greater than 0"):
        cli.settings_with_flags(base, cli.parse_args(["--tps", "-1"]))
    with pytest.raises(SettingsError, match="--url='http://x': Value error, must be a ws"):
        cli.settings_with_flags(base, cli.parse_args(["--url", "http://x"]))


def test_count_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.parse_args(["--count", "0"])
    assert info.value.code == 2 and "--count" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "env", "message"), [
    ([], {}, "no feed chosen"),
    (["--source", "csv", "--file", "/nonexistent/x.csv"], {}, "CSV file not found: /nonexistent/x.csv"),
    (["--source", "sim", "--speed", "warp"], {}, "--speed='warp'"),
    (["--source", "sim"], {"WEBAPP_TPS": "nope"}, "WEBAPP_TPS='nope'"),
])
def test_bad_configuration_exits_2_with_a_message(argv: list[str], env: dict[str, str], message: str,
                                                  monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("WEBAPP_ZMQ_ADDR", f"tcp://127.0.0.1:{free_port()}")
    monkeypatch.setenv("WEBAPP_HEARTBEAT_INTERVAL_SECONDS", "0")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_csv_path_default_is_the_sample_and_missing_files_are_named(tmp_path: Path) -> None:
    assert [p.name for p in csv_paths(AppSettings.from_env({}, env_file=None))] == ["aapl.us.csv"]
    present = tmp_path / "x.csv"
    present.write_text("Date,Close\n2024-01-01,1\n")
    s = AppSettings.from_env({"WEBAPP_FEED_CSV_PATH": f"{present}, {tmp_path}/gone.csv"}, env_file=None)
    with pytest.raises(FileNotFoundError, match=r"gone\.csv"):
        csv_paths(s)


def test_build_feed_by_source() -> None:
    s = AppSettings.from_env({"WEBAPP_SYMBOLS": "X,Y", "WEBAPP_TPS": "4"}, env_file=None)
    with Publisher(f"tcp://127.0.0.1:{free_port()}", heartbeat_interval=0) as pub:
        sim = build_feed(s, pub, None, "sim", count=3)
        assert isinstance(sim, SimFeed) and (sim.symbols, sim.tps, sim.count) == (["X", "Y"], 4.0, 3)
        with pytest.raises(ValueError, match="unknown feed source 'nasdaq'"):
            build_feed(s, pub, None, "nasdaq")
