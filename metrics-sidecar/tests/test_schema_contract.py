"""The pydantic models are the one schema: docs/schema must match them, and the
compiled decoder (the core) must accept and reject what they do."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from metrics_sidecar import reasons
from metrics_sidecar.decode import decode
from metrics_sidecar.schema import Message
from metrics_sidecar.schema_export import main as export_main
from telemetry_testkit.fixtures import load_messages

DOCS_SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "schema"
MESSAGE = TypeAdapter(Message)
# Checks the decoder adds on top of the JSON Schema (see timestamps.py, decode.py):
DECODER_ONLY = {reasons.BAD_TIMESTAMP, reasons.NON_FINITE, reasons.TOO_DEEP, reasons.DUPLICATE_KEY}


def test_committed_json_schema_matches_the_models() -> None:
    assert export_main(["--check", str(DOCS_SCHEMA)]) == 0, "run: make schema"


def test_python_m_schema_export_check_exits_0_on_the_committed_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented command, ``python -m metrics_sidecar.schema_export --check docs/schema``,
    run in this process (its ``__main__`` block included)."""
    monkeypatch.setattr(sys, "argv", ["schema_export", "--check", str(DOCS_SCHEMA)])
    monkeypatch.delitem(sys.modules, "metrics_sidecar.schema_export")  # a fresh run, as -m does
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("metrics_sidecar.schema_export", run_name="__main__")
    assert exited.value.code == 0


# The fixtures the JSON Schema accepts although the decoder rejects them, each for a
# decoder-only reason. Every other fixture gets the same verdict from both.
SCHEMA_LOOSER = {
    "bad_timestamp__iso_no_offset", "bad_timestamp__words", "duplicate_key__qty_twice", "too_deep__nested_extra_field",
}
VALID = load_messages("valid")
INVALID = load_messages("invalid")


def test_every_looser_fixture_exists() -> None:
    assert {name for name, _ in INVALID} >= SCHEMA_LOOSER


@pytest.mark.parametrize(("name", "raw"), VALID + INVALID)
def test_pydantic_and_the_decoder_agree(name: str, raw: bytes) -> None:
    try:
        MESSAGE.validate_json(raw)
        pydantic_ok = True
    except ValidationError:
        pydantic_ok = False
    result = decode(raw)
    valid = (name, raw) in VALID
    expected_reason = None if valid else name.split("__", 1)[0]
    assert (result if isinstance(result, str) else None) == expected_reason, f"{name}: decoder={result}"
    if name in SCHEMA_LOOSER:
        # stricter than the schema by design; documented in docs/metrics.md
        assert expected_reason in DECODER_ONLY and pydantic_ok, f"{name}: pydantic={pydantic_ok}"
    else:
        assert pydantic_ok == valid, f"{name}: pydantic={pydantic_ok} decoder={result}"
