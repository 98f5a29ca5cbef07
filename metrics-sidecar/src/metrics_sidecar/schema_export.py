"""Generate ``docs/schema/*.json`` (JSON Schema) from the pydantic models.

    python -m metrics_sidecar.schema_export docs/schema    # write
    python -m metrics_sidecar.schema_export --check docs/schema   # fail on drift
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import TypeAdapter

from .schema import MESSAGE_MODELS, Message


def schemas() -> dict[str, str]:
    out = {f"{name}.json": model.model_json_schema() for name, model in MESSAGE_MODELS.items()}
    out["message.json"] = TypeAdapter(Message).json_schema()
    return {name: json.dumps(schema, indent=2, sort_keys=True) + "\n" for name, schema in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("--check", action="store_true", help="exit 1 if the files differ from the code")
    args = parser.parse_args(argv)
    stale = []
    for name, text in schemas().items():
        path = args.directory / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            args.directory.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print("out of date (run python -m metrics_sidecar.schema_export docs/schema): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
