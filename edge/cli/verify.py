"""`edge verify PATH [--jwks FILE] [--json]`: check a records file or a replay/output folder.

PATH is a records.jws file (one compact JWS per line) or a folder holding records.jws, with
keys.jwks and evidence/<record_id>/<name> beside it. Exit 0 when clean, 1 naming every fault,
2 on a user error (missing file, unreadable key set).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edge.errors import EdgeError
from edge.records.keys import JWKS_FILE_NAME, public_keys, read_jwks
from edge.records.verify import verify_lines

RECORDS_FILE_NAME = "records.jws"


def add_parser(sub: Any) -> None:
    """Register the sub-command."""
    p = sub.add_parser(
        "verify", help="check signatures, seq continuity and prev chain of signed records"
    )
    p.add_argument("path", type=Path, metavar="PATH", help="records.jws or a folder holding it")
    p.add_argument("--jwks", type=Path, help="public key set (default: keys.jwks beside records)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--partial", action="store_true", help="accept records that start after seq 1")
    p.set_defaults(func=run)


def _locate(path: Path) -> Path:
    records = path / RECORDS_FILE_NAME if path.is_dir() else path
    if not records.is_file():
        raise EdgeError(f"{records}: records file not found")
    return records


def run(args: argparse.Namespace) -> int:
    """Verify; print faults (or the JSON report); 0 when clean, 1 on any fault."""
    records = _locate(args.path)
    jwks_path: Path = args.jwks or records.parent / JWKS_FILE_NAME
    keys = public_keys(read_jwks(jwks_path))
    if not keys:
        raise EdgeError(f"{jwks_path}: no Ed25519 keys in the key set")
    evidence_dir = records.parent / "evidence"
    try:
        with records.open(encoding="ascii", errors="replace") as lines:
            report = verify_lines(lines, keys, evidence_dir, partial=args.partial)
    except OSError as exc:
        raise EdgeError(f"{records}: cannot read: {exc.strerror}") from None
    if args.json:
        print(json.dumps({"file": str(records), "jwks": str(jwks_path), **report.as_dict()}))
        return 0 if report.ok else 1
    for f in report.faults:
        where = f"{records}:{f.line}" if f.line is not None else str(records)
        seq = f" seq {f.seq}:" if f.seq is not None else ""
        print(f"{where}:{seq} {f.kind}: {f.message}")
    span = f"seq {report.first_seq}..{report.last_seq}" if report.records else "no records"
    state = "OK" if report.ok else f"{len(report.faults)} fault(s)"
    print(
        f"{records}: {state}: {report.records} records ({span}), {report.duplicates} duplicates, "
        f"{len(report.kids)} key(s), evidence checked {report.evidence_checked}"
        f" (absent {report.evidence_absent})"
    )
    return 0 if report.ok else 1
