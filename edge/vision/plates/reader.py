"""PlateReader: detect plates in a BGR frame, read them, keep only real plate formats."""

from __future__ import annotations

import logging
import time

import cv2
import numpy as np
import numpy.typing as npt

from edge.vision.plates.color import classify_color
from edge.vision.plates.config import PlatesConfig
from edge.vision.plates.decode import Decoded, PlateDecoder
from edge.vision.plates.detect import Candidate, make_detector, quad_size
from edge.vision.plates.formats import region as get_region
from edge.vision.plates.recognise import Recogniser
from edge.vision.plates.runtime import sha256_file
from edge.vision.plates.types import PlateRead

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
REC_HEIGHT = 48  # crops are warped at the recogniser's height so it does not resize twice
OVERLAP = 0.3  # reads whose boxes overlap more than this (of the smaller box) are one plate


def warp(image: Image, quad: npt.NDArray[np.float32], height: int) -> Image:
    """Perspective-correct the quad to an upright crop `height` pixels tall."""
    w, h = quad_size(quad)
    out_w = max(8, round(w * height / max(h, 1.0)))
    dst = np.array([[0, 0], [out_w - 1, 0], [out_w - 1, height - 1], [0, height - 1]], np.float32)
    m = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    return np.asarray(cv2.warpPerspective(image, m, (out_w, height)), dtype=np.uint8)


def join_rows(plate: Image) -> Image:
    """A two-row plate as one line: the top row (province, letter) left of the bottom row."""
    h, w = plate.shape[:2]
    rows = (plate[: int(h * 0.42), int(w * 0.12) : int(w * 0.88)], plate[int(h * 0.36) :, :])
    scaled = [cv2.resize(r, (max(8, round(r.shape[1] * h / max(1, r.shape[0]))), h)) for r in rows]
    return np.asarray(cv2.hconcat(scaled), dtype=np.uint8)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / max(1, smaller)


class PlateReader:
    """Plate detection + recognition + format check on onnxruntime, warmed up at load."""

    def __init__(self, config: PlatesConfig) -> None:
        """Load both models (ModelError naming the path if missing/corrupt) and warm them up."""
        t0 = time.perf_counter()
        self.config = config
        self.region = get_region(config.region)
        self.detector = make_detector(config.detector, config.providers, config.threads)
        self.recogniser = Recogniser(config.recogniser, config.providers, config.threads)
        self.decoder = PlateDecoder(self.region, self.recogniser.vocab, self.recogniser.blank)
        self._models = {p.name: sha256_file(p) for p in (self.detector.path, self.recogniser.path)}
        self._warm_up()
        log.info("plates loaded region=%s s=%.2f", config.region, time.perf_counter() - t0)

    def _warm_up(self) -> None:
        """One pass over a synthetic frame so the first vehicle is not slow."""
        frame = np.full((480, 640, 3), 90, np.uint8)
        cv2.rectangle(frame, (250, 300), (390, 345), (200, 80, 20), -1)
        cv2.putText(frame, "A12345", (258, 335), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255,) * 3, 2)
        self.read(frame)
        self.recogniser.probabilities([frame[300:345, 250:390]])

    def models(self) -> dict[str, str]:
        """Model file name -> sha256 (goes into records)."""
        return dict(self._models)

    def read(self, image: Image) -> list[PlateRead]:
        """Plates on one BGR frame, most confident first; non-plate text is never returned."""
        candidates = self.detector.detect(image)[: self.config.max_candidates]
        return self.read_candidates(image, candidates)

    def read_candidates(self, image: Image, candidates: list[Candidate]) -> list[PlateRead]:
        """Read given plate regions (e.g. from another detector) on one BGR frame."""
        crops = [self._crop(image, c) for c in candidates]
        reads: list[PlateRead] = []
        for cand, probs in zip(candidates, self.recogniser.probabilities(crops), strict=True):
            decoded = self.decoder.decode(probs)
            if decoded is None or decoded.confidence < self.config.min_confidence:
                continue
            reads.append(self._plate(image, cand, decoded))
        reads.sort(key=lambda r: -r.confidence)
        kept: list[PlateRead] = []
        for r in reads:
            if all(_overlap(r.box, k.box) < OVERLAP for k in kept):
                kept.append(r)
        return kept

    def read_crop(self, plate: Image, two_row: bool = False) -> PlateRead | None:
        """Read one already cut-out plate image (no detection); None if it is not a plate."""
        h, w = plate.shape[:2]
        crop = join_rows(plate) if two_row else plate
        decoded = self.decoder.decode(self.recogniser.probabilities([crop])[0])
        if decoded is None or decoded.confidence < self.config.min_confidence:
            return None
        return PlateRead(
            decoded.text,
            self._color(plate, decoded),
            decoded.confidence,
            (0, 0, w, h),
            decoded.char_conf,
        )

    def _crop(self, image: Image, cand: Candidate) -> Image:
        height = REC_HEIGHT * 2 if cand.two_row else REC_HEIGHT
        plate = warp(image, cand.quad, height)
        return join_rows(plate) if cand.two_row else plate

    def _plate(self, image: Image, cand: Candidate, decoded: Decoded) -> PlateRead:
        x1, y1, x2, y2 = cand.box
        h, w = image.shape[:2]
        region = image[max(0, y1) : min(h, y2), max(0, x1) : min(w, x2)]
        box = (max(0, x1), max(0, y1), min(w, x2), min(h, y2))
        color = self._color(region, decoded)
        return PlateRead(decoded.text, color, decoded.confidence, box, decoded.char_conf)

    @staticmethod
    def _color(region: Image, decoded: Decoded) -> str | None:
        color = classify_color(region)
        if decoded.template.name == "nev_large" and color in ("green", "yellow"):
            return "yellow-green"  # large new-energy plates shade from yellow to green
        return color
