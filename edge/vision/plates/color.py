"""Plate colour from the HSV pixels of the plate region."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

# OpenCV hue is 0..180. Ranges chosen for the Chinese plate backgrounds (GA 36) and the
# usual white/black European and American plates; text pixels are a minority in a plate.
HUES = {"yellow": (11, 34), "green": (35, 95), "blue": (96, 130)}
MIN_SATURATION = 70
MIN_VALUE = 60


def classify_color(plate: npt.NDArray[np.uint8]) -> str | None:
    """blue, yellow, green, white or black; None when no colour dominates (e.g. at night)."""
    if plate.size == 0:
        return None
    hsv = cv2.cvtColor(plate, cv2.COLOR_BGR2HSV).reshape(-1, 3).astype(np.int32)
    h, s, v = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    chroma = (s >= MIN_SATURATION) & (v >= MIN_VALUE)
    shares = {
        name: float(np.mean(chroma & (h >= lo) & (h <= hi))) for name, (lo, hi) in HUES.items()
    }
    name, share = max(shares.items(), key=lambda kv: kv[1])
    if share >= 0.2:
        return name
    if float(np.mean((s < 50) & (v > 150))) >= 0.4:
        return "white"
    if float(np.mean(v < 70)) >= 0.4:
        return "black"
    return None
