"""`edge doctor --config SITE.yaml`: check ports, cameras, key, broker, clock and disk."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edge.config import load_site
from edge.doctor import run_checks

MARK = {"ok": "OK  ", "warn": "WARN", "fail": "FAIL"}


def add_parser(sub: Any) -> None:
    """Register the sub-command."""
    p = sub.add_parser(
        "doctor", help="check a unit on site: ports, cameras, key, broker, clock, disk"
    )
    p.add_argument("--config", type=Path, required=True, metavar="SITE.yaml")
    p.add_argument(
        "--listen", type=float, default=1.0, metavar="S", help="seconds to listen per port"
    )
    p.add_argument("--timeout", type=float, default=5.0, metavar="S", help="camera/broker timeout")
    p.add_argument("--json", action="store_true", help="one JSON object per check")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when nothing failed (warnings allowed), 1 when a check failed."""
    site = load_site(args.config)
    findings = run_checks(site, listen_s=args.listen, timeout_s=args.timeout)
    for f in findings:
        if args.json:
            print(json.dumps({"check": f.check, "level": f.level, "detail": f.detail}))
        else:
            print(f"{MARK[f.level]} {f.check}: {f.detail}")
    return 1 if any(f.level == "fail" for f in findings) else 0
