"""CURVE on the reliable channel: the ROUTER shares the PULL socket's key pair
and allow-list. A known client's messages are delivered and counted exactly; an
unknown key never gets through, and its messages wait in its outbox."""

from __future__ import annotations

import subprocess
from pathlib import Path

from telemetry_testkit.procs import BIN, wait_until
from telemetry_testkit.reliable import RestartableSidecar, total
from trading_app.curve_keys import load_client_keys
from trading_app.telemetry.reliable import ReliablePublisher


def _keys(tmp_path: Path) -> tuple[Path, Path]:
    key_dir, allowed = tmp_path / "keys", tmp_path / "allowed"
    for name in ("sidecar", "good", "bad"):
        done = subprocess.run([str(BIN / "telemetry-keygen"), name, "--dir", str(key_dir)],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
    allowed.mkdir()
    (allowed / "good.key").write_bytes((key_dir / "good.key").read_bytes())
    return key_dir, allowed


def test_reliable_channel_is_curve_protected_when_curve_is_on(tmp_path: Path) -> None:
    key_dir, allowed = _keys(tmp_path)
    sidecar = RestartableSidecar(tmp_path, {"SIDECAR_CURVE_SECRET_KEY_FILE": str(key_dir / "sidecar.key_secret"),
                                            "SIDECAR_CURVE_ALLOWED_KEYS_DIR": str(allowed)})
    sidecar.start()
    server = key_dir / "sidecar.key"
    good = ReliablePublisher(sidecar.reliable, tmp_path / "good.sqlite", producer="good", heartbeat_interval=0,
                             curve=load_client_keys(key_dir / "good.key_secret", server))
    bad = ReliablePublisher(sidecar.reliable, tmp_path / "bad.sqlite", producer="bad", heartbeat_interval=0,
                            curve=load_client_keys(key_dir / "bad.key_secret", server))
    plain = ReliablePublisher(sidecar.reliable, tmp_path / "plain.sqlite", producer="plain", heartbeat_interval=0)
    try:
        for pub in (good, bad, plain):
            for _ in range(100):
                assert pub.trade("buy", 1.0, symbol="BTCUSDT").queued  # accepted locally either way
        metrics = wait_until(lambda: (m := sidecar.metrics()) and total(m, "trades_total") == 100 and m, 15,
                             message="the known client's 100 trades")
        wait_until(lambda: good.unacked() == 0, 10, message="good acked")
        # The refused ones never completed a handshake: nothing sent, nothing acked, all kept.
        assert not bad.connected and not plain.connected
        assert bad.unacked() == plain.unacked() == 100
    finally:
        sidecar.kill9()
        for pub in (good, bad, plain):
            pub.close(drain_seconds=0)
    assert 'messages_lost_total{producer="bad"}' not in metrics
    assert 'messages_lost_total{producer="plain"}' not in metrics
    assert metrics['messages_lost_total{producer="good"}'] == 0
