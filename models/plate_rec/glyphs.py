"""Real plate characters cut from the CCPD training crops, painted into other crops.

The session 12 plate model read its training crops without a fault and the quarter it never
saw at 87 %: it had learnt the 523 real crops by heart, and its misreadings were letters among
the last five characters (皖AGG512 as 皖AGB512, 皖AQG909 as 皖A0G909). Rendered plates do not
cure that: their letters are drawn in desktop fonts, not the narrow GA 36 plate font.
Repainting real crops does: the last five characters of a crop are found (`split`), and some
of them are replaced by the same kind of character cut from other crops (`cut`), in the
crop's own colours (`repaint`). The model then sees the plate font's letters in new places
and new company, on real plates (held-out crops 87.0 -> 91.0 % greedy; models/plates.md).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 on the enlarged crop
UP = 4  # crops (about 94 x 24 px) are worked on enlarged, then shrunk back
TAIL = 5  # characters after the province and the letter on a 7-character plate
TAIL_FROM = 0.28  # share of the width left of the tail (province, letter and dot: 134/440 mm)
CHAR_HEIGHT = (0.45, 0.95)  # a character's height, in the crop's height (90 of 140 mm, tight crop)
CHAR_WIDTH = 0.14  # a character's greatest width, in the crop's width (45 of 440 mm, loose crop)


@dataclass(frozen=True)
class Glyph:
    """One real character: its ink as alpha (0 background .. 1 ink) over its box."""

    char: str
    alpha: npt.NDArray[np.float32]


@dataclass(frozen=True)
class Split:
    """A crop enlarged, the same with its tail characters taken out (inpainted), their boxes,
    and its ink and paper colours."""

    big: Image
    clear: Image
    boxes: tuple[Box, ...]
    ink: npt.NDArray[np.bool_]
    fg: npt.NDArray[np.float32]
    bg: npt.NDArray[np.float32]


def split(img: Image) -> Split | None:
    """The crop's five tail characters, found as connected blobs of ink; None where there are
    not exactly five plate-sized ones, evenly spaced (touching or broken characters, a plate
    turned far, a two-row or 8-character plate)."""
    h, w = img.shape[:2]
    big = cv2.resize(img, (w * UP, h * UP), interpolation=cv2.INTER_CUBIC)
    grey = cv2.cvtColor(big, cv2.COLOR_BGR2GRAY)
    hh, ww = grey.shape
    tail = grey[hh // 6 : hh - hh // 6, round(ww * TAIL_FROM) :]
    level, _ = cv2.threshold(tail, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ink = grey > level
    if ink[hh // 6 : hh - hh // 6, round(ww * TAIL_FROM) :].mean() > 0.5:
        ink = ~ink  # dark characters on a light plate: the ink is the smaller class
    n, _, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    boxes: list[Box] = []
    for x, y, bw, bh, _ in stats[1:n]:
        tall = CHAR_HEIGHT[0] * hh <= bh <= CHAR_HEIGHT[1] * hh
        inside = y > 0 and y + bh < hh  # a blob touching the edge is the rim or the car
        if tall and inside and bw <= CHAR_WIDTH * ww and x >= TAIL_FROM * ww:
            boxes.append((int(x), int(y), int(x + bw), int(y + bh)))
    boxes.sort()
    if len(boxes) != TAIL:
        return None
    steps = np.diff([(b[0] + b[2]) / 2 for b in boxes])
    if steps.max() > 1.5 * np.median(steps) or steps.min() < 0.6 * np.median(steps):
        return None
    pixels = big.reshape(-1, 3).astype(np.float32)
    fg = np.median(pixels[ink.reshape(-1)], axis=0)
    bg = np.median(pixels[~ink.reshape(-1)], axis=0)
    tail_ink = np.zeros(ink.shape, np.uint8)
    for x0, y0, x1, y1 in boxes:
        tail_ink[y0:y1, x0:x1] = ink[y0:y1, x0:x1]
    grow = np.ones((UP + 1, UP + 1), np.uint8)  # the characters' soft edges too
    clear = cv2.inpaint(big, cv2.dilate(tail_ink, grow), UP, cv2.INPAINT_TELEA)
    return Split(np.asarray(big, np.uint8), np.asarray(clear, np.uint8), tuple(boxes), ink, fg, bg)


def cut(parts: Split, text: str) -> list[Glyph]:
    """The tail characters of a split crop as glyphs, labelled from its plate text."""
    grey = cv2.cvtColor(parts.big, cv2.COLOR_BGR2GRAY).astype(np.float32)
    lo = float(cv2.cvtColor(parts.bg[None, None, :].astype(np.uint8), cv2.COLOR_BGR2GRAY)[0, 0])
    hi = float(cv2.cvtColor(parts.fg[None, None, :].astype(np.uint8), cv2.COLOR_BGR2GRAY)[0, 0])
    if abs(hi - lo) < 30:
        return []  # too faint to tell ink from paper
    out = []
    for char, (x0, y0, x1, y1) in zip(text[-TAIL:], parts.boxes, strict=True):
        alpha = np.clip((grey[y0:y1, x0:x1] - lo) / (hi - lo), 0.0, 1.0)
        out.append(Glyph(char, alpha.astype(np.float32)))
    return out


Bank = tuple[list[tuple[Split, str]], list[Glyph]]  # the crops that split, and their glyphs


def glyph_bank(crops: list[tuple[Image, str]]) -> Bank:
    """The crops that split (with their texts) and every glyph cut from them."""
    splits: list[tuple[Split, str]] = []
    glyphs: list[Glyph] = []
    for img, text in crops:
        if len(text) != 7:
            continue
        parts = split(img)
        if parts is None:
            continue
        cut_out = cut(parts, text)
        if cut_out:
            splits.append((parts, text))
            glyphs += cut_out
    return splits, glyphs


def repaint(parts: Split, text: str, glyphs: list[Glyph], rng: random.Random) -> tuple[Image, str]:
    """The crop with one to five of its tail characters replaced by real glyphs from the
    bank's crops (letters as often as digits), shrunk back to its size; and its new text."""
    img = parts.big.copy()
    chars = list(text)
    letters = [g for g in glyphs if g.char.isalpha()]
    digits = [g for g in glyphs if g.char.isdigit()]
    widest = round(1.15 * max(b[2] - b[0] for b in parts.boxes))  # a 1 is narrow, a W is not
    for k in rng.sample(range(TAIL), rng.randint(1, TAIL)):
        pool = letters if rng.random() < 0.5 and letters else digits
        new = rng.choice(pool)
        x0, y0, x1, y1 = parts.boxes[k]
        m = UP  # the old character's soft edge
        ys, xs = slice(max(0, y0 - m), y1 + m), slice(max(0, x0 - m), x1 + m)
        img[ys, xs] = parts.clear[ys, xs]
        gh, gw = new.alpha.shape
        th = y1 - y0
        tw = max(1, min(round(gw * th / gh), widest))
        cx = (x0 + x1) // 2
        a = cv2.resize(new.alpha, (tw, th), interpolation=cv2.INTER_LINEAR)
        left = max(0, cx - tw // 2)
        right = min(img.shape[1], left + tw)
        a = a[:, : right - left, None]
        box = img[y0:y1, left:right].astype(np.float32)
        img[y0:y1, left:right] = np.clip(box * (1 - a) + parts.fg * a, 0, 255).astype(np.uint8)
        chars[len(text) - TAIL + k] = new.char
    h, w = parts.big.shape[0] // UP, parts.big.shape[1] // UP
    small = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    return np.asarray(small, np.uint8), "".join(chars)
