"""Plate detectors: where the plates are in a BGR frame.

Two model contracts, chosen by `detector.type`:
- ppocr-det: the PP-OCR DB text detector from the rapidocr wheel. It finds every text line, so
  lines are grouped (a plate split at its dot is joined, a two-row plate's rows are stacked) and
  filtered by plate geometry; the format check after reading rejects the remaining non-plates.
- yolo-plate: a YOLOv5-style plate detector (letterboxed square input, rows of cx, cy, w, h,
  objectness, optionally 4 corner points, then class scores; class 1 = two-row plate), e.g. the
  HyperLPR3 y5fu detector.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.errors import ModelError
from edge.vision.plates.config import DetectorConfig
from edge.vision.plates.exposure import dehazed
from edge.vision.plates.recognise import rapidocr_model
from edge.vision.plates.runtime import open_session

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
Quad = npt.NDArray[np.float32]  # (4, 2): top-left, top-right, bottom-right, bottom-left
DB_BIN_THRESHOLD = 0.3  # PP-OCR's pixel threshold on the DB probability map
DB_UNCLIP = 1.6  # PP-OCR's box expansion ratio
TWO_ROW_ASPECT = (1.3, 2.6)  # width / height of a two-row plate's box (GA 36: 440 x 220 mm)
# widest text line read as a plate: an EU plate (520 x 110 mm, 4.7) measures up to 5.2 with the
# detector's margins; a longer line is a plate joined to other text, which no format accepts
MAX_ASPECT = 7.0
MAX_ROTATION = 60.0  # degrees: text along a steeper edge is read as a column, not a plate
TILE = 768  # px: the largest detector input side run in one piece
TILE_OVERLAP = 160  # px at the detector's scale, wider than a plate small enough to need tiles
LEVEL = 0.18  # slope of a level line's top edge (10 degrees): only level lines are cut apart
MARGIN_SHARE = 0.3  # of a line's outline height, the margin unclipping adds above and below
REPEAT_OVERLAP = 0.6  # a line overlapping a larger one this much (of its area) is a repeat
# GA 36 two-row plate (440 x 220 mm): the detector's outline of the bottom row's five 110 mm
# characters runs from about 85 mm to the plate's bottom edge, and half its height above it is
# about where the top row's 60 mm characters start (15 mm), which join_rows expects at the
# top. Measured on rendered plates pasted into CCPD photos, 50-70 px tall: 0.5 reads 113 of
# 128, 0.65 96, 0.75 78 (the outline's margin is larger on smaller plates); 100-140 px: all
TOP_ROW_SHARE = 0.5


@dataclass(frozen=True)
class Candidate:
    """A region that may hold a plate: its corners, detector score and row layout."""

    quad: Quad
    score: float
    two_row: bool
    band: bool = False  # the characters' band of a whole-plate candidate (Region.text_band)

    @property
    def box(self) -> tuple[int, int, int, int]:
        """Axis-aligned x1, y1, x2, y2 in pixels."""
        x1, y1 = np.floor(self.quad.min(axis=0)).astype(int)
        x2, y2 = np.ceil(self.quad.max(axis=0)).astype(int)
        return int(x1), int(y1), int(x2), int(y2)


def order_quad(points: npt.ArrayLike) -> Quad:
    """Four corners as top-left, top-right, bottom-right, bottom-left of the text they hold.

    The top edge is the longer of the two edges that run rightwards, so a plate rotated 30
    degrees keeps its width along the text; a longer edge steeper than MAX_ROTATION is a text
    column's, and the column stays upright (too narrow to be a plate).
    """
    pts = np.asarray(points, dtype=np.float32).reshape(4, 2)
    centre = pts.mean(axis=0)
    # by angle around the centre: clockwise on screen (y points down), from the left
    ring = pts[np.argsort(np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0]))]
    edges = np.roll(ring, -1, axis=0) - ring
    angles = np.degrees(np.arctan2(edges[:, 1], edges[:, 0]))
    lengths = np.linalg.norm(edges, axis=1)
    rightwards = [i for i in range(4) if -90.0 < angles[i] <= 90.0]
    upright = [i for i in rightwards if abs(angles[i]) <= MAX_ROTATION] or rightwards
    start = max(upright, key=lambda i: (lengths[i], -abs(angles[i])))
    return np.roll(ring, -start, axis=0).astype(np.float32)


def quad_size(quad: Quad) -> tuple[float, float]:
    """Width (mean of top and bottom edges) and height (mean of the sides) of a quad."""
    w = (np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2
    h = (np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2
    return float(w), float(h)


def above_bottom_row(quad: Quad) -> Quad:
    """The outline of a whole two-row plate from the outline of its bottom row alone: its
    sides carried on upwards by TOP_ROW_SHARE of their length."""
    whole = quad.astype(np.float32).copy()
    whole[0] += (quad[0] - quad[3]) * TOP_ROW_SHARE
    whole[1] += (quad[1] - quad[2]) * TOP_ROW_SHARE
    return whole


class PpocrDetector:
    """PP-OCR DB text detection, grouped into plate candidates."""

    def __init__(self, config: DetectorConfig, providers: Sequence[str], threads: int) -> None:
        """Load the model (ModelError naming the path if missing or corrupt)."""
        self.config = config
        self.path: Path = config.path or rapidocr_model("det")
        self.session: Any = open_session(self.path, providers, threads)
        self.input_name: str = self.session.get_inputs()[0].name

    def detect(self, image: Image, size: int = 0) -> list[Candidate]:
        """Plate candidates in a BGR image, best first, detected at `size` px longest side
        (default: input_size); a larger input than TILE px is detected in overlapping tiles."""
        h, w = image.shape[:2]
        scale = (size or self.config.input_size) / max(h, w)
        regions = tiles(w, h, scale)
        lines: list[Candidate] = []
        for x0, y0, x1, y1 in regions:
            found = self._detect_lines(image[y0:y1, x0:x1], scale)
            shift = np.array([x0, y0], np.float32)
            lines += [Candidate(c.quad + shift, c.score, c.two_row) for c in found]
        if len(regions) > 1:
            lines = drop_repeats(lines)
        return group_lines(lines, self.config.min_height)

    def _detect_lines(self, image: Image, scale: float) -> list[Candidate]:
        h, w = image.shape[:2]
        nh, nw = (max(32, round(h * scale / 32) * 32), max(32, round(w * scale / 32) * 32))
        resized = cv2.resize(image, (nw, nh))
        if self.config.dehaze:
            resized = dehazed(np.asarray(resized, np.uint8))
        x = (resized.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        prob = np.asarray(self.session.run(None, {self.input_name: x})[0])[0, 0]
        return self._lines(prob, (w / nw, h / nh))

    def _lines(self, prob: npt.NDArray[np.float32], sxy: tuple[float, float]) -> list[Candidate]:
        raw = np.asarray(prob > DB_BIN_THRESHOLD, dtype=np.uint8)
        bitmap = np.asarray(cv2.dilate(raw, np.ones((2, 2), np.uint8)), dtype=np.uint8)
        contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        lines: list[Candidate] = []
        for contour in contours:
            (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
            if min(rw, rh) < 3:
                continue
            x, y, bw, bh = cv2.boundingRect(contour)
            mask = np.zeros((bh, bw), np.uint8)
            cv2.fillPoly(mask, [contour.reshape(-1, 2) - (x, y)], 1)
            score = float(cv2.mean(prob[y : y + bh, x : x + bw], mask)[0])
            if score < self.config.score_threshold:
                continue
            d = rw * rh * DB_UNCLIP / (2 * (rw + rh))
            pts = cv2.boxPoints(((cx, cy), (rw + 2 * d, rh + 2 * d), angle))
            pts = pts * np.array(sxy, dtype=np.float32)
            lines.append(Candidate(order_quad(pts), score, two_row=False))
        return lines


def _spans(length: int, scale: float) -> list[tuple[int, int]]:
    """Overlapping [start, end) spans of one image axis whose detector input is at most TILE."""
    n = max(1, math.ceil((length * scale - TILE_OVERLAP) / (TILE - TILE_OVERLAP)))
    if n == 1:
        return [(0, length)]
    overlap = TILE_OVERLAP / scale
    step = (length - overlap) / n
    return [(round(i * step), min(length, round((i + 1) * step + overlap))) for i in range(n)]


def tiles(w: int, h: int, scale: float) -> list[tuple[int, int, int, int]]:
    """Image regions x0, y0, x1, y1 detected one at a time at `scale`: tiles bound the
    detector's memory (its activations grow with the input's area) on a large second pass."""
    return [(x0, y0, x1, y1) for y0, y1 in _spans(h, scale) for x0, x1 in _spans(w, scale)]


def drop_repeats(lines: list[Candidate]) -> list[Candidate]:
    """One of each text line two tiles both saw: the larger (a line cut at a tile's edge is
    also found whole in its neighbour)."""
    kept: list[Candidate] = []
    for line in sorted(lines, key=lambda c: -float(np.prod(quad_size(c.quad)))):
        if all(box_overlap(line.box, k.box) < REPEAT_OVERLAP for k in kept):
            kept.append(line)
    return kept


def box_overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box's area."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / max(1, smaller)


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two boxes."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / max(1, union)


def _merge(quads: Sequence[Quad]) -> Quad:
    pts = np.concatenate(quads).astype(np.float32)
    return order_quad(cv2.boxPoints(cv2.minAreaRect(pts)))


def _join_split_lines(lines: list[Candidate]) -> list[Candidate]:
    """Join pieces of one text line (a plate split at its separator dot)."""
    lines = sorted(lines, key=lambda c: float(c.quad[:, 0].min()))
    out: list[Candidate] = []
    for line in lines:
        if out:
            prev = out[-1]
            _, ph = quad_size(prev.quad)
            _, lh = quad_size(line.quad)
            gap = float(line.quad[:, 0].min() - prev.quad[:, 0].max())
            dy = abs(float(line.quad[:, 1].mean() - prev.quad[:, 1].mean()))
            if max(ph, lh) < 1.4 * min(ph, lh) and dy < 0.35 * ph and gap < 0.8 * ph:
                out[-1] = Candidate(
                    _merge([prev.quad, line.quad]), min(prev.score, line.score), False
                )
                continue
        out.append(line)
    return out


def _stack_two_rows(lines: list[Candidate]) -> list[Candidate]:
    """Two-row plates (yellow truck rear plates): a short top row centred over a long one."""
    stacked: list[Candidate] = []
    for top in lines:
        tw, th = quad_size(top.quad)
        tc = top.quad.mean(axis=0)
        for bottom in lines:
            if bottom is top:
                continue
            bw, bh = quad_size(bottom.quad)
            bx1, bx2 = float(bottom.quad[:, 0].min()), float(bottom.quad[:, 0].max())
            gap = float(bottom.quad[:, 1].min() - top.quad[:, 1].max())
            if (
                tw < 0.85 * bw
                and bx1 < tc[0] < bx2
                and -0.4 * bh < gap < 0.6 * bh
                and 0.4 * bh < th < 1.1 * bh
            ):
                quad = _merge([top.quad, bottom.quad])
                stacked.append(Candidate(quad, min(top.score, bottom.score), two_row=True))
    return stacked


def _apart(lines: list[Candidate]) -> list[Candidate]:
    """The lines, each cut back where its outline runs into a line above or below it, to the
    middle of the overlap: the detector's margin around a plate's characters otherwise takes
    in the top of a date stamp under it, and the F of 湘F8ZS83 is read as an E."""
    out: list[Candidate] = []
    for line in lines:
        dx, dy = line.quad[1] - line.quad[0]
        if abs(dy) > LEVEL * abs(dx):
            out.append(line)  # a turned line's box says little of what is above or below it
            continue
        quad = line.quad.copy()
        x1, y1, x2, y2 = line.box
        top, bottom = float(y1), float(y2)
        margin = MARGIN_SHARE * quad_size(line.quad)[1]
        for other in lines:
            ox1, oy1, ox2, oy2 = other.box
            if other is line or min(x2, ox2) - max(x1, ox1) < 0.3 * min(x2 - x1, ox2 - ox1):
                continue  # not above or below
            other_margin = MARGIN_SHARE * quad_size(other.quad)[1]
            # halfway between the two lines' characters, each outline less its margin
            if y1 < oy1 < y2 < oy2:
                bottom = min(bottom, (y2 - margin + oy1 + other_margin) / 2)
            elif oy1 < y1 < oy2 < y2:
                top = max(top, (oy2 - other_margin + y1 + margin) / 2)
        quad[:2, 1] = np.maximum(quad[:2, 1], top)
        quad[2:, 1] = np.minimum(quad[2:, 1], bottom)
        out.append(Candidate(quad, line.score, line.two_row))
    return out


def group_lines(lines: list[Candidate], min_height: int) -> list[Candidate]:
    """Plate candidates from text lines: joined, kept apart, stacked, filtered by plate
    geometry."""
    lines = _join_split_lines(lines)
    lines = _apart(lines)
    out = _stack_two_rows(lines)
    for line in lines:
        w, h = quad_size(line.quad)
        aspect = w / max(h, 1.0)
        if h >= min_height and 1.3 <= aspect <= MAX_ASPECT:
            out.append(line)
        if h >= 2 * min_height and TWO_ROW_ASPECT[0] <= aspect <= TWO_ROW_ASPECT[1]:
            # a two-row plate whose rows the text detector saw as one block: read it as such too
            out.append(Candidate(line.quad, line.score, two_row=True))
    return sorted(out, key=lambda c: -c.score * np.sqrt(np.prod(quad_size(c.quad))))


class YoloPlateDetector:
    """YOLOv5-style plate detector with optional corner keypoints (HyperLPR3 y5fu layout)."""

    def __init__(self, config: DetectorConfig, providers: Sequence[str], threads: int) -> None:
        """Load the model; it must take one square image input."""
        if config.path is None:
            raise ModelError("detector type yolo-plate needs detector.path (an ONNX file)")
        self.config = config
        self.path: Path = config.path
        self.session: Any = open_session(config.path, providers, threads)
        inp = self.session.get_inputs()[0]
        self.input_name: str = inp.name
        fixed = [d for d in inp.shape[2:] if isinstance(d, int)]
        self.size = fixed[0] if fixed else config.input_size

    def detect(self, image: Image) -> list[Candidate]:
        """Plate candidates in a BGR image, best first."""
        h, w = image.shape[:2]
        r = self.size / max(h, w)
        nw, nh = round(w * r), round(h * r)
        px, py = (self.size - nw) // 2, (self.size - nh) // 2
        canvas = np.zeros((self.size, self.size, 3), np.uint8)
        canvas[py : py + nh, px : px + nw] = cv2.resize(image, (nw, nh))
        x = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB).astype(np.float32).transpose(2, 0, 1) / 255
        rows = np.asarray(self.session.run(None, {self.input_name: x[None]})[0])[0]
        return self._decode(rows, r, px, py)

    def _decode(self, rows: npt.NDArray[np.float32], r: float, px: int, py: int) -> list[Candidate]:
        has_kp = rows.shape[1] >= 15
        cls = rows[:, 13:] if has_kp else rows[:, 5:]
        if cls.shape[1] == 0:
            cls = np.ones((len(rows), 1), np.float32)
        scores = rows[:, 4] * cls.max(axis=1)
        keep = np.flatnonzero(scores >= self.config.score_threshold)
        if keep.size == 0:
            return []
        b = rows[keep, :4]
        xywh = np.stack([b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 2], b[:, 3]], 1)
        picked = cv2.dnn.NMSBoxes(
            xywh.tolist(), scores[keep].tolist(), self.config.score_threshold, self.config.nms_iou
        )
        out: list[Candidate] = []
        for i in np.asarray(picked).reshape(-1):
            row = rows[keep[i]]
            if has_kp:
                pts = row[5:13].reshape(4, 2)
            else:
                x0, y0, bw, bh = xywh[i]
                pts = np.array([[x0, y0], [x0 + bw, y0], [x0 + bw, y0 + bh], [x0, y0 + bh]])
            quad = order_quad((pts - (px, py)) / r)
            two_row = cls.shape[1] > 1 and int(cls[keep[i]].argmax()) == 1
            _, qh = quad_size(quad)
            if qh >= self.config.min_height:
                out.append(Candidate(quad, float(scores[keep[i]]), two_row))
        return out


def make_detector(
    config: DetectorConfig, providers: Sequence[str], threads: int
) -> PpocrDetector | YoloPlateDetector:
    """The detector named by config.type."""
    if config.type == "yolo-plate":
        return YoloPlateDetector(config, providers, threads)
    return PpocrDetector(config, providers, threads)
