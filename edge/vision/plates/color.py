"""Plate colour from the HSV pixels of the plate region."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
from cv2.typing import MatLike

# OpenCV hue is 0..180. Ranges chosen for the Chinese plate backgrounds (GA 36) and the
# usual white/black European and American plates; text pixels are a minority in a plate.
HUES = {"yellow": (11, 34), "green": (35, 95), "blue": (96, 130)}
PLATE_COLORS = (*HUES, "white", "black")  # what classify_color names
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


COLOURLESS_SAMPLE = (160, 90)  # pixels sampled (nearest) to judge whether a frame has colour
COLOURLESS_SATURATION = 25  # a pixel this saturated (and not dark) is coloured
COLOURLESS_SHARE = 0.0002  # a frame with fewer coloured pixels than this is colourless


def colourless(image: npt.NDArray[np.uint8]) -> bool:
    """Whether a frame has no colour: an infrared or monochrome camera (night mode), whose
    plates' colours cannot be told (a retroreflective plate shines white in infrared).

    A frame counts as colourless when almost none of a sample of its pixels are even faintly
    coloured (saturation COLOURLESS_SATURATION, and not dark: dark pixels' hue is noise). A
    colour photo of a grey road still has painted cars, signs and plates: the least coloured
    of the labelled photos, a van at night lit by a flash (EasyPR 皖AJH155), has 0.9 % such
    pixels (0.05 % as saturated as classify_color asks); the same photos turned grey and
    saved as JPEG have none.
    """
    if image.ndim < 3 or image.shape[2] == 1:
        return True
    small = cv2.resize(image, COLOURLESS_SAMPLE, interpolation=cv2.INTER_NEAREST)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    chroma = (hsv[:, :, 1] >= COLOURLESS_SATURATION) & (hsv[:, :, 2] >= MIN_VALUE)
    return float(np.mean(chroma)) < COLOURLESS_SHARE


PATCH_SATURATION = 90  # a plate background is strongly coloured; car paint in shade is not
PATCH_ASPECT = (2.0, 6.0)  # width / height of a plate patch, its frame and shadow included
PATCH_FILL = 0.45  # share of the patch's box its colour covers (characters are the rest)
PATCH_WORK_HEIGHT = 6  # px: the smallest plate sought is this tall on the working image


def colour_patches(
    image: npt.NDArray[np.uint8], colors: tuple[str, ...], min_height: int, max_height: int
) -> list[tuple[int, int, int, int]]:
    """Upright boxes (x1, y1, x2, y2) of plate-shaped patches of a plate background colour,
    from `min_height` to `max_height` px tall, largest first.

    A plate a dozen pixels tall in a large frame leaves no trace in the text detector's
    downscaled input; its coloured background is still there to find.
    """
    h, w = image.shape[:2]
    s = min(1.0, PATCH_WORK_HEIGHT / max(min_height, 1))
    size = (max(1, round(w * s)), max(1, round(h * s)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    boxes: list[tuple[int, int, int, int]] = []
    for name in colors:
        lo, hi = HUES[name]
        mask = cv2.inRange(hsv, (lo, PATCH_SATURATION, MIN_VALUE), (hi, 255, 255))
        # close the gaps the characters cut into the background
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 5), np.uint8))
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            x, y, bw, bh = cv2.boundingRect(contour)
            if bh < min_height * s or bh > 2 * max_height * s:
                continue  # too short, or too tall even turned as far as a plate may be
            inside = cv2.countNonZero(mask[y : y + bh, x : x + bw])
            if plate_shaped(contour, inside, min_height * s, max_height * s):
                boxes.append((int(x / s), int(y / s), int((x + bw) / s), int((y + bh) / s)))
    return sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))


PATCH_MAX_TURN = 35.0  # degrees: a patch turned further is a post or a pillar, not a plate


def plate_shaped(contour: MatLike, inside: int, min_height: float, max_height: float) -> bool:
    """Whether a colour patch's outline is a plate's, turned by up to PATCH_MAX_TURN degrees:
    its rotated rectangle's height, aspect and the share of it `inside` pixels of the colour
    cover. (Its upright box would not do: turned 15 degrees, a 3.5:1 plate's box is under 2:1.)
    """
    _, (rw, rh), angle = cv2.minAreaRect(contour)
    rw, rh = rw + 1.0, rh + 1.0  # between the outer pixels' centres: one pixel short
    if rh > rw:
        rw, rh, angle = rh, rw, angle + 90.0
    turn = abs((angle + 90.0) % 180.0 - 90.0)
    if turn > PATCH_MAX_TURN or not min_height <= rh <= max_height:
        return False
    if not PATCH_ASPECT[0] <= rw / max(rh, 1e-6) <= PATCH_ASPECT[1]:
        return False
    return inside >= PATCH_FILL * rw * rh
