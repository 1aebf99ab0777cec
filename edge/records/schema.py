"""The published JSON Schemas of the record types (draft 2020-12, schema id roadside.record/1).

They live in edge/records/schemas/ under version control and ship with the package; each
`<type>.json` references `envelope.json` by its `$id` (urn:roadside:record:1:...).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

RECORD_TYPES = ("vehicle", "violation", "road", "calibration", "health")


def load_schemas() -> dict[str, dict[str, Any]]:
    """Every schema by name (`envelope` and each record type)."""
    folder = resources.files("edge.records") / "schemas"
    out: dict[str, dict[str, Any]] = {}
    for name in ("envelope", *RECORD_TYPES):
        out[name] = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    return out
