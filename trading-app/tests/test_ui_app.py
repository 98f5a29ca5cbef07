"""The UI app with no sidecar: in reliable mode the page says trades wait in the
outbox (nothing is dropped), and a page that cannot be imported is an error the
user sees, never a page that silently goes missing. The sidecar's address is one
nothing listens on (the tests that start a sidecar are tests/e2e/test_ui_sidecar_warning.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from telemetry_testkit.procs import free_port
from telemetry_testkit.ui_apptest import click, texts, ui_env
from trading_app.ui import app_publisher, trade_page
from trading_app.ui.cli import APP


@pytest.fixture
def unreachable_sidecar(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Unused ZeroMQ and HTTP ports: the publisher stays unconnected and every GET fails."""
    with ui_env(monkeypatch, free_port(), free_port()):
        yield


def test_reliable_mode_says_trades_wait_in_the_outbox(unreachable_sidecar: None, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """With WEBAPP_DELIVERY=reliable nothing is dropped while the sidecar is away,
    so the page must not say it may be: the click waits in the outbox."""
    monkeypatch.setenv("WEBAPP_DELIVERY", "reliable")
    monkeypatch.setenv("WEBAPP_OUTBOX_DIR", str(tmp_path / "outbox"))
    st.cache_resource.clear()
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception
    assert texts(at.warning) == [trade_page.UNREACHABLE_RELIABLE_WARNING]
    at = click(at, "Buy")
    assert not at.exception
    stats = app_publisher.get_publisher().stats()
    assert stats.dropped == {}  # kept, not dropped
    assert stats.outbox is not None and stats.outbox.unacked == 1
    assert texts(at.warning) == [trade_page.UNREACHABLE_RELIABLE_WARNING]


def test_a_page_that_cannot_be_imported_is_an_error_not_a_missing_page(unreachable_sidecar: None,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import trading_app.ui

    monkeypatch.delattr(trading_app.ui, "market_page", raising=False)
    monkeypatch.setitem(sys.modules, "trading_app.ui.market_page", None)  # the import now fails
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert [e.message for e in at.exception] and "trading_app.ui.market_page" in at.exception[0].message
