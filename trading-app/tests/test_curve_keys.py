"""The key generator run as a program (``python -m trading_app.curve_keys``, the
main() that ``telemetry-keygen`` calls), in this process: the key pair's files and
modes, and the refusal to overwrite them."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest
import zmq.auth


def keygen(monkeypatch: pytest.MonkeyPatch, *args: str) -> int | str | None:
    monkeypatch.setattr(sys, "argv", ["curve_keys", *args])
    monkeypatch.delitem(sys.modules, "trading_app.curve_keys", raising=False)  # a fresh run, as -m does
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("trading_app.curve_keys", run_name="__main__")
    return exited.value.code


def test_writes_a_loadable_key_pair_and_refuses_to_overwrite_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert keygen(monkeypatch, "sidecar", "--dir", str(tmp_path)) == 0
    public_file, secret_file = tmp_path / "sidecar.key", tmp_path / "sidecar.key_secret"
    assert (public_file.stat().st_mode & 0o777, secret_file.stat().st_mode & 0o777) == (0o644, 0o600)
    public, secret = zmq.auth.load_certificate(secret_file)
    assert zmq.auth.load_certificate(public_file) == (public, None) and secret is not None
    assert f"public key  {public_file}  ({public.decode()})" in capsys.readouterr().out
    assert keygen(monkeypatch, "sidecar", "--dir", str(tmp_path)) == 1
    assert capsys.readouterr().err == (f"telemetry-keygen: {public_file} exists "
                                       "(use --force to replace the key pair)\n")
    assert zmq.auth.load_certificate(secret_file) == (public, secret)  # untouched
