"""Progress on a terminal, silence otherwise (cli.md: quiet when stderr is not a terminal)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


def terminal_progress(label: str) -> Callable[[float], None] | None:
    """A callback printing `label NN%` at most 5 times a second, or None when not a terminal."""
    if not sys.stderr.isatty():
        return None
    last = [0.0]

    def show(fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] < 0.2 and fraction < 1.0:
            return
        last[0] = now
        sys.stderr.write(f"\r{label} {min(fraction, 1.0) * 100:5.1f}%")
        if fraction >= 1.0:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show
