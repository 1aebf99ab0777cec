"""Licence plate reading: detection, format-aware CTC recognition, colour, multi-frame vote.

Public API (used by the pipeline and `edge plates read`):
    PlatesConfig, PlateReader(config).read(bgr) -> list[PlateRead], PlateReader.models(),
    vote(reads, region) -> PlateRead | None
"""

from edge.vision.plates.config import DetectorConfig, PlatesConfig, RecogniserConfig
from edge.vision.plates.reader import PlateReader
from edge.vision.plates.types import PlateRead
from edge.vision.plates.vote import vote

__all__ = [
    "DetectorConfig",
    "PlateRead",
    "PlateReader",
    "PlatesConfig",
    "RecogniserConfig",
    "vote",
]
