"""The pydantic models are the one schema: docs/schema must match them, and the
fast msgspec decoder must accept and reject what they do."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from metrics_sidecar import reasons
from metrics_sidecar.decode import decode
from metrics_sidecar.schema import Message
from metrics_sidecar.schema_export import main as export_main
from support.fixtures import load_messages

DOCS_SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "schema"
MESSAGE = TypeAdapter(Message)
# Checks the decoder adds on top of the JSON Schema (see timestamps.py, decode.py):
DECODER_ONLY = {reasons.BAD_TIMESTAMP, reasons.NON_FINITE, reasons.TOO_DEEP, reasons.DUPLICATE_KEY}


def test_committed_json_schema_matches_the_models() -> None:
    assert export_main(["--check", str(DOCS_SCHEMA)]) == 0, "run: make schema"


@pytest.mark.parametrize(("name", "raw"), load_messages("valid") + load_messages("invalid"))
def test_pydantic_and_msgspec_agree(name: str, raw: bytes) -> None:
    try:
        MESSAGE.validate_json(raw)
        pydantic_ok = True
    except ValidationError:
        pydantic_ok = False
    result = decode(raw)
    if isinstance(result, str) and result in DECODER_ONLY:
        return  # stricter than the schema by design; documented in docs/metrics.md
    assert pydantic_ok == (not isinstance(result, str)), f"{name}: pydantic={pydantic_ok} decoder={result}"
