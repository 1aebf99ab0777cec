"""Counters a camera source reports to health monitoring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SourceState = Literal["starting", "up", "down", "ended", "stopped"]


@dataclass(frozen=True)
class SourceStats:
    """A snapshot of one camera source.

    frames: decoded and delivered; skipped: grabbed on purpose without decoding (skip_to);
    dropped: grabbed but not decoded because frames came faster than `max_fps` (load shedding);
    decode_errors: frames the decoder could not produce; reconnects: times a stream came back
    after being down; open_failures: attempts to (re)open that failed.
    """

    camera: str
    state: SourceState
    frames: int
    skipped: int
    dropped: int
    decode_errors: int
    reconnects: int
    open_failures: int
    last_t_ns: int | None
