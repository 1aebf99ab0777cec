"""Synthetic Chinese licence plates, drawn to the GA 36 layout, for simulation and training.

No video with readable plates is public, so the simulator and the recogniser's training script
draw plates themselves: the plate colours and the character boxes of GA 36-2018 (blue and
yellow 440x140 mm single-row plates, the 440x220 mm two-row yellow rear plate of large vehicles,
480x140 mm new-energy plates), glyphs from an installed CJK font stretched to each box as the
condensed plate typeface is. One pixel is one millimetre; callers scale and degrade the image.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from edge.errors import ModelError

Image = npt.NDArray[np.uint8]

# (path, face index) tried in order; fonts-wqy-zenhei is the small Debian package setup installs
CJK_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),  # Noto Sans CJK SC Bold
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc", 2),
)
LATIN_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf", 0),
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 0),
)

# background, character colour (BGR) per plate colour; "green" is the new-energy gradient
COLORS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "blue": ((160, 60, 10), (245, 245, 245)),
    "yellow": ((30, 185, 235), (20, 20, 20)),
    "black": ((25, 25, 25), (240, 240, 240)),
    "white": ((240, 240, 240), (20, 20, 20)),
    "green": ((110, 200, 90), (20, 20, 20)),
    "yellow-green": ((60, 200, 160), (20, 20, 20)),
}
RED = (30, 30, 200)


@dataclass(frozen=True)
class Layout:
    """Character boxes of one plate type in millimetres: (x, y, w, h) per character."""

    size: tuple[int, int]  # width, height
    boxes: tuple[tuple[int, int, int, int], ...]
    dot: tuple[int, int] | None  # centre of the separator dot


def _row(
    x0: float, y: int, w: int, h: int, gaps: list[float]
) -> tuple[tuple[int, int, int, int], ...]:
    boxes, x = [], x0
    for gap in [*gaps, 0.0]:
        boxes.append((round(x), y, w, h))
        x += w + gap
    return tuple(boxes)


LAYOUTS: dict[str, Layout] = {
    # 7 characters 45x90, gaps 12, a 34 mm gap holding the dot after the second
    "single7": Layout((440, 140), _row(15.5, 25, 45, 90, [12, 34, 12, 12, 12, 12]), (134, 70)),
    # new energy: 8 characters 43x90, gaps 9, 49 mm after the second
    "single8": Layout((480, 140), _row(15.5, 25, 43, 90, [9, 49, 9, 9, 9, 9, 9]), (135, 70)),
    # two-row rear plate: province + letter 80x60 on top, five characters 65x110 below
    "double7": Layout(
        (440, 220),
        (*_row(110, 15, 80, 60, [60]), *_row(27.5, 90, 65, 110, [15, 15, 15, 15])),
        None,
    ),
}


def find_font(candidates: tuple[tuple[str, int], ...]) -> tuple[str, int]:
    """First installed font of the candidates; ModelError naming them when none is."""
    for path, index in candidates:
        if Path(path).is_file():
            return path, index
    names = ", ".join(p for p, _ in candidates)
    raise ModelError(f"no font for plate rendering; install one of: {names}")


@functools.lru_cache(maxsize=4096)
def glyph(char: str, font_path: str, index: int) -> Image:
    """A character's ink as an 8-bit mask cropped to its bounding box (cached)."""
    font = ImageFont.truetype(font_path, 160, index=index)
    canvas = PILImage.new("L", (240, 240), 0)
    ImageDraw.Draw(canvas).text((40, 20), char, fill=255, font=font)
    mask = np.asarray(canvas, dtype=np.uint8)
    ys, xs = np.nonzero(mask > 40)
    if len(xs) == 0:
        raise ModelError(f"{font_path}: no glyph for {char!r}")
    return mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].copy()


def _is_cjk(char: str) -> bool:
    return ord(char) > 0x2E80


def _place(
    canvas: Image, mask: Image, box: tuple[int, int, int, int], color: tuple[int, ...]
) -> None:
    """Stretch a glyph mask into a box (narrow glyphs such as 1 keep their width) and ink it."""
    x, y, w, h = box
    gh, gw = mask.shape
    tw = min(w, max(4, round(gw * h / gh))) if gw * h / gh < w * 0.8 else w
    scaled = cv2.resize(mask, (tw, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    x += (w - tw) // 2
    region = canvas[y : y + h, x : x + tw].astype(np.float32)
    ink = np.array(color, np.float32)[None, None, :]
    canvas[y : y + h, x : x + tw] = (
        region * (1 - scaled[..., None]) + ink * scaled[..., None]
    ).astype(np.uint8)


def _background(layout: Layout, color: str) -> Image:
    w, h = layout.size
    bg, fg = COLORS[color]
    plate = np.empty((h, w, 3), np.uint8)
    plate[:] = bg
    if color == "green":  # new-energy plates fade from white-green at the top to green
        ramp = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
        top = np.array((235, 250, 235), np.float32)
        plate[:] = (top * (1 - ramp) + np.array(bg, np.float32) * ramp).astype(np.uint8)
    cv2.rectangle(plate, (6, 6), (w - 7, h - 7), fg, 3)  # the embossed rim
    return plate


def layout_for(text: str, two_row: bool) -> Layout:
    """The layout a plate text is printed in."""
    if two_row:
        if len(text) != 7:
            raise ValueError(f"two-row plates hold 7 characters, not {text!r}")
        return LAYOUTS["double7"]
    if len(text) == 7:
        return LAYOUTS["single7"]
    if len(text) == 8:
        return LAYOUTS["single8"]
    raise ValueError(f"no plate layout for {len(text)} characters: {text!r}")


def render_plate(
    text: str,
    color: str = "blue",
    two_row: bool = False,
    cjk_font: tuple[str, int] | None = None,
    latin_font: tuple[str, int] | None = None,
) -> Image:
    """A clean BGR plate image, 1 px per mm (440x140, 480x140 or 440x220)."""
    if color not in COLORS:
        raise ValueError(f"unknown plate colour {color!r}; known: {', '.join(COLORS)}")
    layout = layout_for(text, two_row)
    cjk = cjk_font or find_font(CJK_FONTS)
    latin = latin_font or find_font(LATIN_FONTS)
    plate = _background(layout, color)
    fg = COLORS[color][1]
    for i, (char, box) in enumerate(zip(text, layout.boxes, strict=True)):
        font = cjk if _is_cjk(char) else latin
        ink = RED if (char in "警" and i == len(text) - 1) else fg
        _place(plate, glyph(char, *font), box, ink)
    if layout.dot is not None:
        cv2.circle(plate, layout.dot, 5, fg, -1)
    return plate
