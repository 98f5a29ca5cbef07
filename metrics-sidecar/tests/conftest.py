from __future__ import annotations

import pytest

from metrics_sidecar.settings import Settings
from metrics_sidecar.state import TelemetryState


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def state(settings: Settings) -> TelemetryState:
    return TelemetryState(settings)
