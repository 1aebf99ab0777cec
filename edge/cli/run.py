"""`edge run --config SITE.yaml`: the live service (what the systemd unit starts)."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

from edge.config import load_site
from edge.service import Service


def add_parser(sub: Any) -> None:
    """Register the sub-command."""
    p = sub.add_parser("run", help="run the live service: sensors, records, delivery")
    p.add_argument("--config", type=Path, required=True, metavar="SITE.yaml")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run until SIGTERM or SIGINT; a clean stop exits 0."""
    site = load_site(args.config)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    Service(site).run(stop)
    return 0
