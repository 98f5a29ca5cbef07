from __future__ import annotations

from pathlib import Path

import pytest

from metrics_sidecar.settings import Settings
from metrics_sidecar.state import TelemetryState


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def state(settings: Settings) -> TelemetryState:
    return TelemetryState(settings)


@pytest.fixture(params=["core", "python"])
def drain(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Which PULL drain an IngestLoop made in the test chooses (libzmq.py): the core's,
    or, with no libzmq to be found in the process's maps, the Python fallback."""
    from metrics_sidecar import libzmq

    if request.param == "python":
        empty = tmp_path / "maps-without-libzmq"
        empty.write_text("")
        monkeypatch.setattr(libzmq, "MAPS", empty)
    return str(request.param)
