"""Plate colour from the HSV pixels of the plate region."""

from __future__ import annotations

from functools import cached_property

import cv2
import numpy as np
import numpy.typing as npt
from cv2.typing import MatLike

from edge.vision.plates.exposure import sampled

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
    hsv = cv2.cvtColor(plate, cv2.COLOR_BGR2HSV)
    shares = {
        name: _share(hsv, (lo, MIN_SATURATION, MIN_VALUE), (hi, 255, 255))
        for name, (lo, hi) in HUES.items()
    }
    name, share = max(shares.items(), key=lambda kv: kv[1])
    if share >= 0.2:
        return name
    if _share(hsv, (0, 0, 151), (255, 49, 255)) >= 0.4:  # unsaturated (< 50) and bright (> 150)
        return "white"
    if _share(hsv, (0, 0, 0), (255, 255, 69)) >= 0.4:  # dark (< 70)
        return "black"
    return None


def _share(hsv: MatLike, low: tuple[int, int, int], high: tuple[int, int, int]) -> float:
    """The share of pixels within low..high (inclusive) in every HSV channel."""
    inside = cv2.inRange(hsv, low, high)
    return cv2.countNonZero(inside) / max(1, inside.size)


# Reporting a plate's colour (`plate_colour`). GA 36 prints white characters on blue and black
# plates, black ones on yellow, green and white plates; the colour a camera shows can be far
# off (a colour cast turns a blue plate olive, glare turns it cyan or white, dusk turns it
# black), and a record that calls a blue car plate green or black is wrong in court.
BLUE_HUES = (85, 135)  # wider than HUES' blue: a glaring blue plate shades into cyan
BLUE_TINT = 25  # saturation of a faintly blue pixel (a washed-out blue plate)
BLUE_SHARE = 0.2  # share of the background that tinted blue makes a blue plate
TINT = 50  # saturation of a tinted pixel of the background (yellow, green)
TINT_SHARE = 0.2  # share of the background that tinted a colour makes a plate of that colour
BLACK_SATURATION = 30  # a black plate's background is dark and grey: below this median
BLACK_VALUE = 90  # ... and this median brightness


class PlateLook:
    """One plate image's colour evidence, each part worked out once however many judgements
    ask for it: a tight crop's colour is judged when its reading is checked, again when it is
    kept, and once more for the record (a tenth of a millisecond each time)."""

    def __init__(self, plate: npt.NDArray[np.uint8]) -> None:
        self.plate = plate

    @cached_property
    def seen(self) -> str | None:
        """The colour the camera shows (`classify_color`)."""
        return classify_color(self.plate)

    @cached_property
    def core(self) -> npt.NDArray[np.uint8]:
        """The plate without its border (`_core`)."""
        return _core(self.plate)

    @cached_property
    def polarity(self) -> tuple[bool, npt.NDArray[np.bool_]]:
        """Whether the characters are the lighter, and the background's mask (`_text_polarity`)."""
        return _text_polarity(self.core)


def _look(plate: npt.NDArray[np.uint8] | PlateLook) -> PlateLook:
    return plate if isinstance(plate, PlateLook) else PlateLook(plate)


def plate_colour(
    plate: npt.NDArray[np.uint8] | PlateLook, issued: tuple[str, ...] | None
) -> str | None:
    """The colour to report for a plate read in a format `issued` in these colours (None: any,
    then `classify_color` as it is).

    The camera's colour alone decides only between colours the format is issued in, helped by
    which is lighter, characters or background: a plate with any blue to it is blue where
    blue plates exist; light characters make a blue plate (black only on a dark grey one);
    dark characters a yellow or green one, and failing either a white one.
    """
    look = _look(plate)
    raw = look.seen
    if issued is None or look.core.size == 0:
        return raw
    if len(issued) == 1:
        return issued[0]  # a green new-energy plate in glare is still green
    light, background = look.polarity
    hsv = cv2.cvtColor(look.core, cv2.COLOR_BGR2HSV).reshape(-1, 3).astype(np.int32)[background]
    h, s = hsv[:, 0], hsv[:, 1]
    # judged on the background alone: dark characters take any hue in a colour cast
    blue = (s >= BLUE_TINT) & (h >= BLUE_HUES[0]) & (h <= BLUE_HUES[1])
    if "blue" in issued and float(np.mean(blue)) >= BLUE_SHARE:
        return "blue"  # glare can make the characters the darker: blue decides first
    chosen = _light_text(hsv, issued) if light else _dark_text(hsv, issued, raw)
    return chosen or raw


def crop_colour(plate: npt.NDArray[np.uint8] | PlateLook) -> str | None:
    """`classify_color` for a tight plate crop, where the characters' shade is also known:
    a green or yellow reading of a plate whose characters are lighter than its background is
    a colour cast on a blue plate, not a plate of that colour (GA 36 prints dark characters on
    green and yellow plates), and the colour is unknown (None).

    Under one CCPD camera's teal cast 5 of 177 held-out blue crops read as green, which no
    7-character plate is issued in.
    """
    look = _look(plate)
    raw = look.seen
    if raw not in ("green", "yellow") or look.core.size == 0:
        return raw
    light, _ = look.polarity
    return None if light else raw


def _light_text(background: npt.NDArray[np.int32], issued: tuple[str, ...]) -> str | None:
    """Blue or black, for a plate with characters lighter than its `background` (HSV rows)."""
    s, v = background[:, 1], background[:, 2]
    dark_grey = bool(np.median(s) < BLACK_SATURATION and np.median(v) < BLACK_VALUE)
    if "black" in issued and (dark_grey or "blue" not in issued):
        return "black"
    return "blue" if "blue" in issued else None


def _dark_text(
    background: npt.NDArray[np.int32], issued: tuple[str, ...], seen: str | None
) -> str | None:
    """The tint (yellow, green) of a plate with characters darker than its `background`
    (HSV rows); failing a clear one, white where the format is issued in white, else the
    colour `seen` where the format is issued in it (thick white characters on a glaring blue
    plate can be the larger class), else the likeliest tint."""
    h, tinted = background[:, 0], background[:, 1] >= TINT
    shares = {
        name: float(np.mean(tinted & (h >= lo) & (h <= hi)))
        for name, (lo, hi) in HUES.items()
        if name in issued and name != "blue"
    }
    best = max(shares, key=lambda name: shares[name]) if shares else None
    if best is not None and shares[best] >= TINT_SHARE:
        return best
    if "white" in issued:
        return "white"
    return seen if seen in issued else best


def _core(plate: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """The plate without its outer fifth top and bottom and tenth left and right, where the
    frame, rivets and the car around a loose crop are."""
    h, w = plate.shape[:2]
    return plate[h // 5 : h - h // 5, w // 10 : w - w // 10]


def _text_polarity(core: npt.NDArray[np.uint8]) -> tuple[bool, npt.NDArray[np.bool_]]:
    """Whether the characters are lighter than the background, and a flat mask of the
    background's pixels (Otsu's two classes of grey: the characters are the smaller)."""
    grey = cv2.cvtColor(core, cv2.COLOR_BGR2GRAY)
    _, mask = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = mask.reshape(-1) > 0
    light = float(np.mean(bright)) < 0.5
    return light, ~bright if light else bright


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
    hsv = cv2.cvtColor(sampled(image, COLOURLESS_SAMPLE), cv2.COLOR_BGR2HSV)
    return _share(hsv, (0, COLOURLESS_SATURATION, MIN_VALUE), (255, 255, 255)) < COLOURLESS_SHARE


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
