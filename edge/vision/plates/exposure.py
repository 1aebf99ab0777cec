"""Pictures made readable before detection: a flat one levelled, a hazy one cleared."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]

LEVELS_SAMPLE = (160, 90)  # pixels sampled (nearest) to judge a frame's grey levels
LEVELS_PERCENTILES = (1.0, 99.0)  # the darkest and brightest levels that count (not glints)
FLAT_RANGE = 128  # grey levels between those percentiles under which a frame is flat
MAX_GAIN = 4.0  # a blank frame (lens cap, a wall at night) is not stretched into noise
CLIP_CELL = 4  # px: nothing brighter or darker than the levels and this large is clipped


def sampled(image: Image, size: tuple[int, int]) -> Image:
    """A nearest-pixel sample of the image `size` (width, height) large, or the image itself
    where it has no more pixels than that (a plate crop): enlarging it adds no information
    and cost a crop a tenth of a millisecond in every judgement made on a sample."""
    if image.shape[0] * image.shape[1] <= size[0] * size[1]:
        return image
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_NEAREST), np.uint8)


def levels(image: Image) -> tuple[float, float]:
    """The frame's darkest and brightest grey levels (LEVELS_PERCENTILES of a sample)."""
    small = sampled(image, LEVELS_SAMPLE)
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


HAZE_WORK = 320  # px: longest side of the sample the haze is judged on
HAZE_PATCH = 7  # px at HAZE_WORK: the window each pixel's darkest neighbour is sought in
HAZE_GATE = 64  # grey level the darkest 5 % of windows reach in a hazy picture (0.25 of white)
HAZE_OMEGA = 0.95  # share of the veil taken away (a trace is left, as the eye expects)
HAZE_MIN_T = 0.25  # the thickest veil undone: dividing by less amplifies noise


def dehazed(image: Image) -> Image:
    """The picture with its veil of haze or smog taken away, if it is hazy; otherwise itself.

    Haze adds a veil of the sky's light that thickens with distance: a far plate loses its
    contrast while the near road keeps it, so the frame as a whole is not flat enough to be
    `levelled`, and the text detector misses the plate. In a clear picture almost every window
    has a pixel dark in some channel (a shadow, a tyre, a saturated colour: He, Sun and Tang's
    dark channel prior); haze lifts even those. A picture whose darkest 5 % of windows are
    still HAZE_GATE light is hazy: the veil's colour A is that of its most veiled windows,
    its thickness t comes from each window's darkest channel relative to A, and the picture is
    (I - A) / t + A. Made for the detector's input (640 px): judging takes about 1 ms,
    clearing 9 ms. Every clear labelled photo reads as before (benchmarks/README.md).
    """
    if image.ndim < 3 or image.shape[2] != 3:
        return image
    h, w = image.shape[:2]
    s = min(1.0, HAZE_WORK / max(h, w))
    size = (max(1, round(w * s)), max(1, round(h * s)))
    small = image if s == 1.0 else cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    window = np.ones((HAZE_PATCH, HAZE_PATCH), np.uint8)
    dark = np.asarray(cv2.erode(_darkest_channel(small), window), np.uint8)
    if grey_percentiles(dark, (5.0,))[0] < HAZE_GATE:
        return image
    n = max(1, dark.size // 1000)
    veiled = np.argpartition(dark.ravel(), -n)[-n:]
    veil = np.maximum(small.reshape(-1, 3)[veiled].astype(np.float32).mean(axis=0), 1.0)
    ratio = _darkest_channel(small.astype(np.float32) / veil)
    t = 1 - HAZE_OMEGA * np.asarray(cv2.erode(ratio, window), np.float32)
    t = np.asarray(cv2.blur(t, (2 * HAZE_PATCH + 1, 2 * HAZE_PATCH + 1)))  # no halo at edges
    if s != 1.0:
        t = np.asarray(cv2.resize(t, (w, h), interpolation=cv2.INTER_LINEAR))
    thickness = np.maximum(t, HAZE_MIN_T)[:, :, None]
    clear = (image.astype(np.float32) - veil) / thickness + veil
    return np.asarray(np.clip(clear, 0, 255), np.uint8)


def _darkest_channel(image: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Each pixel's darkest channel (cv2: numpy's min over the last axis is 20 times slower)."""
    b, g, r = cv2.split(image)
    return np.asarray(cv2.min(cv2.min(b, g), r))
