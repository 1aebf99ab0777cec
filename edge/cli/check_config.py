"""`edge check-config SITE.yaml`: validate a site configuration."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edge.config import load_site


def add_parser(sub: Any) -> None:
    """Register the sub-command."""
    p = sub.add_parser("check-config", help="validate a site configuration file")
    p.add_argument("config", type=Path, metavar="SITE.yaml")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the file; errors (file:line: field: message) propagate as ConfigError."""
    cfg = load_site(args.config)
    summary = {
        "file": str(args.config),
        "ok": True,
        "site": cfg.site.id,
        "device": cfg.device.id,
        "lanes": [lane.lane for lane in cfg.wim.lanes],
        "serial": sorted(cfg.serial),
        "cameras": sorted(cfg.cameras),
        "rules": cfg.rules.profile,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{args.config}: OK: site {cfg.site.id}, device {cfg.device.id}, "
            f"lanes {summary['lanes']}, rules {cfg.rules.profile}"
        )
    return 0
