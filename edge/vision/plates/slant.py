"""Upright characters for a plate seen from the side.

A camera beside or above the lane sees a plate's characters slanted: the text detector's box is
a rotated rectangle, so turning the line level leaves its verticals leaning (a shear), and the
recognisers, trained on upright text, misread leaning characters. The lean is found as the
shear that stacks the characters' vertical edges into the fewest columns.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]

SHEARS = np.round(np.arange(-0.6, 0.61, 0.05), 2)  # horizontal shift per row, as a share of 1
# a lean under about 11 degrees is left as it is: the recognisers read it, and a plate's few
# edges can fake a small one (US 6TIX874 lost its 6 to a lean of 0.1, UH1F0F its U to 0.15)
MIN_SHEAR = 0.2


def lean(line: Image) -> float:
    """The shear (x shift per pixel of height, from the middle row) that makes the line's
    characters upright: the one whose vertical edges, sheared, sum into the sharpest column
    profile (the largest sum of squares)."""
    grey = cv2.cvtColor(line, cv2.COLOR_BGR2GRAY) if line.ndim == 3 else line
    edges = np.abs(cv2.Sobel(grey.astype(np.float32), cv2.CV_32F, 1, 0, ksize=3))
    h, w = edges.shape
    best, best_score = 0.0, -1.0
    for s in SHEARS:
        shift = np.array([[1, s, -s * h / 2], [0, 1, 0]], np.float32)
        profile = cv2.warpAffine(edges, shift, (w, h)).sum(axis=0)
        score = float(np.dot(profile, profile))
        if score > best_score:
            best, best_score = float(s), score
    return best


def upright(line: Image) -> Image:
    """The line with its characters' lean (`lean`) undone, widened so nothing is cut; the
    line itself where it leans less than MIN_SHEAR."""
    s = lean(line)
    if abs(s) < MIN_SHEAR:
        return line
    h, w = line.shape[:2]
    pad = int(abs(s) * h / 2) + 1
    shift = np.array([[1, s, -s * h / 2 + pad], [0, 1, 0]], np.float32)
    return np.asarray(
        cv2.warpAffine(line, shift, (w + 2 * pad, h), borderMode=cv2.BORDER_REPLICATE)
    )
