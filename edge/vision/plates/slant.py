"""Upright characters for a plate seen from the side.

A camera beside or above the lane sees a plate's characters slanted: the text detector's box is
a rotated rectangle, so turning the line level leaves its verticals leaning (a shear), and the
recognisers, trained on upright text, misread leaning characters. The lean is found as the
shear that stacks the characters' vertical edges into the fewest columns; where that finds
none, a steep lean is read from the slant of the characters' strongest edges.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]

MAX_SHEAR = 0.6  # the steepest lean sought (31 degrees)
STEP = 0.05  # leans are measured in these steps
# horizontal shift per row, as a share of 1
SHEARS = np.round(np.arange(-MAX_SHEAR, MAX_SHEAR + STEP / 2, STEP), 2)
# a lean under about 11 degrees is left as it is: the recognisers read it, and a plate's few
# edges can fake a small one (US 6TIX874 lost its 6 to a lean of 0.1, UH1F0F its U to 0.15)
MIN_SHEAR = 0.2
# edges stronger than this share of the line's pixels are the characters' strokes, not the
# plate's texture, noise or JPEG blocks
STRONG_PERCENTILE = 70.0
# edge_slant takes a lean only where its edges outvote the upright ones this many times: an
# upright plate's diagonal strokes (Z, A) and its holder's slanted ends make a smaller second
# peak (EasyPR 苏A85Z95 at 1080p: 0.25, read 苏A85295)
UPRIGHT_MARGIN = 1.6
# of the strong edges' weight, the least share that must be nearly vertical for edge_slant to
# judge a lean at all: a horizontal smear (motion blur) wipes the verticals out, and the curves
# left (33333) pile up at the steepest slants (EasyPR 辽C33333 smeared 5 px: 0.05 near vertical,
# a false 0.55; the blurred CCPD "tilt" sample: 0.11; sharp plates: 0.2-0.55)
VERTICAL_SHARE = 0.08
# a steep lean of blurred characters that the column profile misses (it found none on a CCPD
# "tilt" sample that reads 皖AW391L set upright by 0.55; only the unsheared profile escapes the
# interpolation's smoothing, so the profile leans to 0): edge_slant's, from this lean on
STEEP = 0.4


def lean(line: Image) -> float:
    """The shear (x shift per pixel of height, from the middle row) that makes the line's
    characters upright: the one whose vertical edges, sheared, sum into the sharpest column
    profile (the largest sum of squares)."""
    grey = cv2.cvtColor(line, cv2.COLOR_BGR2GRAY) if line.ndim == 3 else line
    edges = np.abs(cv2.Sobel(grey.astype(np.float32), cv2.CV_32F, 1, 0, ksize=3))
    h, w = edges.shape
    best, best_score = 0.0, -1.0
    for s in sorted(SHEARS, key=abs):  # a tie (a blank line) goes to the smaller lean
        shift = np.array([[1, s, -s * h / 2], [0, 1, 0]], np.float32)
        profile = cv2.warpAffine(edges, shift, (w, h)).sum(axis=0)
        score = float(np.dot(profile, profile))
        if score > best_score:
            best, best_score = float(s), score
    return best


def edge_slant(line: Image) -> float:
    """The lean as the most common slant of the line's strong, nearly vertical edges, weighted
    by their strength, where it clearly outvotes the upright (UPRIGHT_MARGIN); 0 where it
    does not, or where too few strong edges are nearly vertical to tell (VERTICAL_SHARE).

    An edge along x = x0 + k * y has its gradient along (1, -k), and the shear that undoes it is
    -k = gy / gx. Horizontal edges (the plate's rim, the bars of E and T) slant far more than
    MAX_SHEAR and are left out; diagonal strokes (A, V, 7) spread either side of the vertical
    strokes' peak.
    """
    grey = cv2.cvtColor(line, cv2.COLOR_BGR2GRAY) if line.ndim == 3 else line
    grey = grey.astype(np.float32)
    gx = cv2.Scharr(grey, cv2.CV_32F, 1, 0)
    gy = cv2.Scharr(grey, cv2.CV_32F, 0, 1)
    strength = np.hypot(gx, gy)
    strong = (strength > np.percentile(strength, STRONG_PERCENTILE)) & (np.abs(gx) > 1e-3)
    slant = gy[strong] / gx[strong]
    near_vertical = np.abs(slant) <= MAX_SHEAR + STEP / 2
    weight = strength[strong]
    if weight[near_vertical].sum() <= VERTICAL_SHARE * weight.sum():  # none at all: flat
        return 0.0
    steps = round(MAX_SHEAR / STEP)
    edges = (np.arange(-steps, steps + 2) - 0.5) * STEP  # bins centred on each step
    votes, _ = np.histogram(slant[near_vertical], bins=edges, weights=weight[near_vertical])
    votes = np.convolve(votes, [1.0, 2.0, 1.0], mode="same")  # a slant between two steps
    peak = int(np.argmax(votes))
    if votes[peak] < UPRIGHT_MARGIN * votes[steps]:
        return 0.0
    return round(float((peak - steps) * STEP), 2)


def upright(line: Image) -> Image:
    """The line with its characters' lean (`lean`, or a steep `edge_slant` where `lean` finds
    none) undone, widened so nothing is cut; the line itself where it leans less than
    MIN_SHEAR."""
    s = lean(line)
    if abs(s) < MIN_SHEAR:
        steep = edge_slant(line)
        s = steep if abs(steep) >= STEEP else s
    if abs(s) < MIN_SHEAR:
        return line
    h, w = line.shape[:2]
    pad = int(abs(s) * h / 2) + 1
    shift = np.array([[1, s, -s * h / 2 + pad], [0, 1, 0]], np.float32)
    return np.asarray(
        cv2.warpAffine(line, shift, (w + 2 * pad, h), borderMode=cv2.BORDER_REPLICATE)
    )
