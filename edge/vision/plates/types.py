"""The value a plate reading hands to the rest of the program."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlateRead:
    """One plate read on one frame (or voted over several frames of one vehicle)."""

    text: str  # fits one of the region's formats, e.g. 皖A12345
    color: str | None  # blue, yellow, green, yellow-green, white, black; None if unsure
    confidence: float  # 0..1, geometric mean of char_conf
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 in the frame, pixels
    char_conf: tuple[float, ...]  # one per character of text
