"""A flat frame (fog, haze, dusk, an underexposed camera) levelled before it is read."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]

LEVELS_SAMPLE = (160, 90)  # pixels sampled (nearest) to judge a frame's grey levels
LEVELS_PERCENTILES = (1.0, 99.0)  # the darkest and brightest levels that count (not glints)
FLAT_RANGE = 128  # grey levels between those percentiles under which a frame is flat
MAX_GAIN = 4.0  # a blank frame (lens cap, a wall at night) is not stretched into noise
CLIP_CELL = 4  # px: nothing brighter or darker than the levels and this large is clipped


def levels(image: Image) -> tuple[float, float]:
    """The frame's darkest and brightest grey levels (LEVELS_PERCENTILES of a sample)."""
    small = cv2.resize(image, LEVELS_SAMPLE, interpolation=cv2.INTER_NEAREST)
    grey = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    lo, hi = grey_percentiles(np.asarray(grey, np.uint8), LEVELS_PERCENTILES)
    return lo, hi


def grey_percentiles(grey: Image, percents: tuple[float, ...]) -> tuple[float, ...]:
    """np.percentile's default (linear) percentiles of 8-bit levels, read off their histogram:
    a tenth of its time on a sample, which every frame and every plate crop pays."""
    cumulative = np.cumsum(np.bincount(grey.ravel(), minlength=256))
    last = int(cumulative[-1]) - 1
    out: list[float] = []
    for q in percents:
        at = q / 100 * last
        below = int(np.floor(at))
        # the level of the k-th smallest value is the first level whose count exceeds k
        a, b = np.searchsorted(cumulative, [below, min(below + 1, last)], side="right")
        out.append(float(a + (b - a) * (at - below)))
    return tuple(out)


def extremes(image: Image) -> tuple[float, float]:
    """The darkest and brightest grey levels of the frame's CLIP_CELL-pixel cells (averaged:
    single glints and noise do not count, a plate's background does)."""
    h, w = image.shape[:2]
    size = (max(1, w // CLIP_CELL), max(1, h // CLIP_CELL))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    grey = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    darkest, brightest, _, _ = cv2.minMaxLoc(grey)
    return float(darkest), float(brightest)


def levelled(image: Image) -> Image:
    """The frame stretched to span 0-255 (by at most MAX_GAIN) if it is flat, its levels
    under FLAT_RANGE apart; otherwise the frame itself.

    The text detector's score of a text line falls with its contrast, and the recognisers'
    confidence with it: in fog, or in a frame a third as bright, plates were left out that
    the same frame levelled reads right. Only flat frames are levelled: levelling every
    frame changed the readings of well-exposed ones, some for the worse. The stretch spans
    the frame's `extremes` too: a small bright plate in a dark frame is too small to count
    among its levels, and clipped white its characters would go with it. Every channel is
    stretched alike, so hues keep their order.
    """
    lo, hi = levels(image)
    if hi - lo >= FLAT_RANGE:
        return image
    darkest, brightest = extremes(image)
    lo, hi = min(lo, darkest), max(hi, brightest)
    gain = min(MAX_GAIN, 255.0 / max(hi - lo, 1.0))
    if gain <= 1.0:
        return image
    mid = (lo + hi) / 2
    lut = np.clip((np.arange(256, dtype=np.float32) - mid) * gain + 127.5, 0, 255)
    return np.asarray(cv2.LUT(image, lut.astype(np.uint8)), dtype=np.uint8)
