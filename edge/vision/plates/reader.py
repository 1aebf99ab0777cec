"""PlateReader: detect plates in a BGR frame, read them, keep only real plate formats."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import cv2
import numpy as np
import numpy.typing as npt

from edge.vision.plates.color import (
    PlateLook,
    classify_color,
    colour_patches,
    colourless,
    crop_colour,
    plate_colour,
)
from edge.vision.plates.config import PlatesConfig
from edge.vision.plates.decode import Decoded, PlateDecoder, fuse, settle
from edge.vision.plates.detect import (
    Candidate,
    PpocrDetector,
    above_bottom_row,
    box_iou,
    box_overlap,
    make_detector,
    quad_size,
)
from edge.vision.plates.exposure import levelled
from edge.vision.plates.formats import region as get_region
from edge.vision.plates.recognise import (
    FloatArray,
    Recogniser,
    learnt_firsts,
    referee,
    resolve,
)
from edge.vision.plates.runtime import sha256_file
from edge.vision.plates.slant import upright
from edge.vision.plates.types import PlateRead

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
REC_HEIGHT = 48  # crops are warped at the recogniser's height so it does not resize twice
OVERLAP = 0.3  # reads whose boxes overlap more than this (of the smaller box) are one plate
Box = tuple[int, int, int, int]


def warp(image: Image, quad: npt.NDArray[np.float32], height: int) -> Image:
    """Perspective-correct the quad to an upright crop `height` pixels tall."""
    w, h = quad_size(quad)
    out_w = max(8, round(w * height / max(h, 1.0)))
    dst = np.array([[0, 0], [out_w - 1, 0], [out_w - 1, height - 1], [0, height - 1]], np.float32)
    m = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    return np.asarray(cv2.warpPerspective(image, m, (out_w, height)), dtype=np.uint8)


EMBLEM_LEFT = 0.2  # a band or coat of arms starting within this share of the width
SATURATED = 110  # HSV saturation of emblem colours; a tinted white plate stays below it
COLOURED_PLATE = 0.3  # saturated share above which the plate itself is coloured: left alone
BAND_SOLID = 0.3  # saturated share of a column that makes it part of a left band or emblem


def blank_emblems(plate: Image) -> Image:
    """Paint coloured emblems, bands and stickers of a light plate with its background.

    The recogniser reads a coat of arms (SK, HR), the EU band or an inspection sticker as one
    more character. Characters on such plates are dark on white, so saturated blobs of some size
    are not text: each becomes background; one at the left edge takes the full height with it
    (the country code printed under the arms).
    """
    hsv = cv2.cvtColor(plate, cv2.COLOR_BGR2HSV)
    mask = ((hsv[..., 1] > SATURATED) & (hsv[..., 2] > 60)).astype(np.uint8)
    h, w = plate.shape[:2]
    if h < 8 or w < 16 or float(mask.mean()) > COLOURED_PLATE:
        return plate
    k = max(1, h // 8)  # an emblem is red, white and blue pieces: close them into one blob
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    light = (mask == 0) & (hsv[..., 2] >= np.percentile(hsv[..., 2], 60))
    if n <= 1 or not light.any():
        return plate
    background = np.median(plate[light], axis=0).astype(np.uint8)
    out = plate.copy()
    pad = max(1, h // 16)
    for x, y, bw, bh, area in stats[1:]:
        if area < 0.01 * h * w or bh < 0.2 * h:
            continue  # a colour fringe along a letter, not an emblem
        if x < EMBLEM_LEFT * w:
            # up to the band's last solid column: colour fringes of the first letter join the
            # closed blob, and blanking the whole blob would take the letter with it
            solid = np.nonzero(mask[:, x : x + bw].mean(axis=0) >= BAND_SOLID)[0]
            if solid.size:
                out[:, : x + int(solid[-1]) + 1 + pad] = background
        else:
            out[max(0, y - pad) : y + bh + pad, max(0, x - pad) : x + bw + pad] = background
    return out


def band_quad(quad: npt.NDArray[np.float32], band: tuple[float, float]) -> npt.NDArray[np.float32]:
    """The part of a quad (tl, tr, br, bl) between two shares of its height from the top."""
    tl, tr, br, bl = quad
    top, bottom = band
    return np.array(
        [
            tl + top * (bl - tl),
            tr + top * (br - tr),
            tr + bottom * (br - tr),
            tl + bottom * (bl - tl),
        ],
        np.float32,
    )


def quad_aspect(quad: npt.NDArray[np.float32]) -> float:
    """Width over height of a quad."""
    w, h = quad_size(quad)
    return w / max(h, 1.0)


def join_rows(plate: Image) -> Image:
    """A two-row plate as one line: the top row (province, letter) left of the bottom row."""
    h, w = plate.shape[:2]
    rows = (plate[: int(h * 0.42), int(w * 0.12) : int(w * 0.88)], plate[int(h * 0.36) :, :])
    scaled = [cv2.resize(r, (max(8, round(r.shape[1] * h / max(1, r.shape[0]))), h)) for r in rows]
    return np.asarray(cv2.hconcat(scaled), dtype=np.uint8)


# a retry pass enlarges the image at most this many times: a small image (a plate crop the
# whole-plate read did not take) is already enlarged by the first pass, and a 94 x 24 CCPD crop
# searched again at 960 and 1280 px read nothing more, for 250 ms
MAX_RETRY_SCALE = 5.0
REFINE_BELOW = 16  # px at the detector's scale: a shorter candidate's outline is rough
REFINE_HEIGHT = 32  # px: it is detected again in a window enlarged to make it this tall
REFINE_MAX = 3  # windows per frame, best candidates first
REFINE_MARGIN = (1.0, 2.0)  # window around a rough outline, in its widths and heights
PATCH_MAX = 2  # windows per frame around coloured patches no candidate covers, largest first
PATCH_MIN_HEIGHT = 12  # px: the smallest plate sought by its colour
PATCH_MARGIN = (0.5, 1.0)  # a patch is the plate itself: a narrower window holds it
WHOLE_PLATE_MAX_HEIGHT = 250  # px: an image this small and plate-shaped may be one plate
# width / height of a candidate that holds a whole plate with a name above its characters
# (US: 12 x 6 in) rather than the characters' line alone
WHOLE_PLATE_ASPECT = (1.3, 2.6)
TWO_ROW_BELOW = 2.2  # width / height under which a plate crop is a two-row plate (GA 36: 2.0)
# width / height of the detector's outline of a two-row plate's bottom row (five 65 x 110 mm
# characters: about 2.6 with the outline's margins, more when seen from the side)
BOTTOM_ROW_ASPECT = (2.2, 4.5)
SAME_PLATE_IOU = 0.5  # a bottom row's outline of the plate matches a stacked candidate's
COLOR_HEIGHT = 24  # px: a line's background colour is judged on it warped this tall


def whole_plate(image: Image, two_row: bool) -> Candidate | None:
    """The whole image as a plate candidate if it is small and shaped like a plate crop (a
    two-row plate if it is that square and the region has two-row plates)."""
    h, w = image.shape[:2]
    aspect = w / max(h, 1)
    if h > WHOLE_PLATE_MAX_HEIGHT or not 1.5 <= aspect <= 6.5:
        return None
    quad = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    return Candidate(quad, 1.0, two_row=two_row and aspect < TWO_ROW_BELOW)


def issued_in(decoded: Decoded, color: str | None, two_row: tuple[str, ...] = ()) -> bool:
    """Whether a plate of this format is issued in this background colour (and, for a
    two-row reading, in a colour of `two_row`, when given).

    Painted text in plate format on a white or red truck panel is the classic false plate; a
    Chinese standard plate is only ever blue, yellow or black, and a two-row one yellow: the
    plate model reads the two halves of a dark grille, joined, as a black plate. An unknown
    colour (night, glare) does not reject.
    """
    if color is None:
        return True
    allowed = decoded.template.colors
    return (allowed is None or color in allowed) and stacked_in(color, two_row)


def stacked_in(color: str | None, two_row: tuple[str, ...]) -> bool:
    """Whether a reading of a text block as two rows may be on this plate colour (`two_row`
    empty: not such a reading, or no colour rule for it; an unknown colour does not reject)."""
    return not two_row or color is None or color in two_row


@dataclass(frozen=True)
class Window:
    """A place to look closer at: a box, the width and height of the plate thought to be in
    it, and the margin to add on each side, in those widths and heights."""

    box: Box
    plate: tuple[float, float]
    margin: tuple[float, float]


@dataclass(frozen=True)
class FrameReading:
    """One frame's plates, the candidates the last detection pass gave, the seconds spent
    recognising (the rest of a frame's time is detection) and how many candidates they read,
    over every pass and closer look."""

    candidates: list[Candidate]
    reads: list[PlateRead]
    recognise_s: float
    recognised: int


class PlateReader:
    """Plate detection + recognition + format check on onnxruntime, warmed up at load."""

    def __init__(self, config: PlatesConfig) -> None:
        """Load both models (ModelError naming the path if missing/corrupt) and warm them up."""
        t0 = time.perf_counter()
        self.config = config
        self.region = get_region(config.region)
        self.detector = make_detector(config.detector, config.providers, config.threads)
        self.stages: list[tuple[Recogniser, PlateDecoder]] = []
        for rec_config in resolve(config.recogniser, config.region):
            rec = Recogniser(rec_config, config.providers, config.threads)
            self.stages.append((rec, PlateDecoder(self.region, rec.vocab, rec.blank)))
        self.referee: tuple[Recogniser, PlateDecoder] | None = None
        ref_config = referee(config.recogniser, config.region)
        if ref_config is not None:
            rec = Recogniser(ref_config, config.providers, config.threads)
            self.referee = (rec, PlateDecoder(self.region, rec.vocab, rec.blank))
        # the plate model that reads tight crops first (`_read_whole`), where it is not the
        # chain's only recogniser
        self._fast: tuple[Recogniser, PlateDecoder, frozenset[str] | None] | None = None
        plate_models = [(r, d) for r, d in self.stages[1:] if not r.generic]
        if plate_models and config.crop_trust < 1.0:
            rec, decoder = plate_models[0]
            self._fast = (rec, decoder, learnt_firsts(rec.path))
        paths = [self.detector.path, *(rec.path for rec, _ in self._recognisers())]
        self._models = {p.name: sha256_file(p) for p in paths}
        self._warm_up()
        log.info("plates loaded region=%s s=%.2f", config.region, time.perf_counter() - t0)

    def _warm_up(self) -> None:
        """One pass over a synthetic frame so the first vehicle is not slow."""
        frame = np.full((480, 640, 3), 90, np.uint8)
        cv2.rectangle(frame, (250, 300), (390, 345), (200, 80, 20), -1)
        cv2.putText(frame, "A12345", (258, 335), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255,) * 3, 2)
        self.read(frame)
        for rec, _ in self._recognisers():
            rec.probabilities([frame[300:345, 250:390]])

    def _recognisers(self) -> list[tuple[Recogniser, PlateDecoder]]:
        return [*self.stages, *([self.referee] if self.referee else [])]

    def models(self) -> dict[str, str]:
        """Model file name -> sha256 (goes into records)."""
        return dict(self._models)

    def read(self, image: Image, frame_side: int | None = None) -> list[PlateRead]:
        """Plates on one BGR frame, most confident first; non-plate text is never returned.

        `frame_side`: where `image` is a part of a frame (a camera's plate zone), the longest
        side of that frame. The part is then searched at the scale the whole frame would be:
        it costs its share of the frame's time, and reads the plates in it as the frame does
        (but for the few that any other framing also reads differently,
        benchmarks/plates_shifted.py).
        """
        return self.read_frame(image, frame_side).reads

    def read_frame(self, image: Image, frame_side: int | None = None) -> FrameReading:
        """read() with what it looked at: the candidates read and the time spent reading them.

        An image small and shaped like a plate is first read whole, as a plate crop (a crop
        cut by another system, or a still of one plate; never a part of a frame). A frame
        without a plate at the detector's input size is searched again at each of `retry_sizes`
        in turn until one gives a plate, up to MAX_RETRY_SCALE times the image's size: the
        smaller pass costs less, the larger finds smaller plates (a part of a frame: these
        sizes scaled by its share of the frame's longest side). Small candidates that gave no
        plate, and small plate-coloured patches that gave no candidate, are looked at again,
        enlarged (`_refine`). In a colourless frame (an infrared camera at night) plate colours are
        unknown: no reading is held to them. A flat frame (fog, dusk) is read levelled
        (`levelled`); the detector takes the veil off a hazy one (`detector.dehaze`).
        """
        spent = 0.0
        colour = not colourless(image)
        image = levelled(image)
        whole = whole_plate(image, self.region.two_row) if frame_side is None else None
        if whole is not None:
            t0 = time.perf_counter()
            crop = self._lines(image, whole.two_row)
            reads = self._accept(image, [whole], [crop], not whole.two_row, colour)
            spent = time.perf_counter() - t0
            if reads:
                return FrameReading([whole], reads, spent, 1)
        limit = self.config.max_candidates
        share = 1.0 if frame_side is None else min(1.0, max(image.shape[:2]) / frame_side)
        size = round(self.config.detector.input_size * share)
        recognised = 0 if whole is None else 1
        candidates = self._layouts(image, self._detect(image, size), limit, colour)
        t0 = time.perf_counter()
        reads = self.read_candidates(image, candidates, colour)
        spent += time.perf_counter() - t0
        recognised += len(candidates)
        if not isinstance(self.detector, PpocrDetector):
            return FrameReading(candidates, reads, spent, recognised)
        for retry in (round(r * share) for r in self.config.detector.retry_sizes):
            if reads:
                break
            if retry <= size:
                continue
            if retry > MAX_RETRY_SCALE * max(image.shape[:2]):
                break
            candidates = self._layouts(image, self._detect(image, retry), limit, colour)
            t0 = time.perf_counter()
            reads = self.read_candidates(image, candidates, colour)
            spent += time.perf_counter() - t0
            recognised += len(candidates)
            size = retry
        reads, reading, closer = self._refine(image, candidates, reads, size, colour)
        return FrameReading(candidates, reads, spent + reading, recognised + closer)

    def _detect(self, image: Image, size: int) -> list[Candidate]:
        """Candidates of the detector at `size` px longest side; a plate detector's input
        size is its model's."""
        if isinstance(self.detector, PpocrDetector):
            return self.detector.detect(image, size)
        return self.detector.detect(image)

    def _refine(
        self,
        image: Image,
        candidates: list[Candidate],
        reads: list[PlateRead],
        size: int,
        colour: bool,
    ) -> tuple[list[PlateRead], float, int]:
        """`reads` with what small candidates and small coloured patches show when each is
        detected again, enlarged, in a window around it, the seconds spent reading them and
        how many candidates that was.

        A plate a dozen pixels tall at the detector's `size` gets a rough outline that often
        cuts off its first characters; seen again enlarged, the outline fits the plate (at
        most REFINE_MAX candidates). A smaller one leaves no trace in the detector's input;
        where the region's plates are coloured, `_patches` finds it. A new plate is added; a
        reading that holds a rough outline's reading and more (7AWV401 for AWV401) replaces
        it.
        """
        h_img, w_img = image.shape[:2]
        scale = size / max(h_img, w_img)
        windows: list[Window] = []
        for cand in candidates:
            plate = quad_size(cand.quad)
            fresh = all(box_overlap(cand.box, w.box) < OVERLAP for w in windows)
            if plate[1] * scale < REFINE_BELOW and fresh:
                windows.append(Window(cand.box, plate, REFINE_MARGIN))
        windows = windows[:REFINE_MAX] + self._patches(image, candidates, reads, size)
        kept = list(reads)
        reading = 0.0
        recognised = 0
        for window in windows:
            found, spent, n = self._look_closer(image, window, colour)
            reading += spent
            recognised += n
            for read in found:
                same = [k for k in kept if box_overlap(read.box, k.box) >= OVERLAP]
                if all(k.text in read.text and k.text != read.text for k in same):
                    kept = [k for k in kept if k not in same] + [read]
        return sorted(kept, key=lambda r: -r.confidence), reading, recognised

    def _patches(
        self, image: Image, candidates: list[Candidate], reads: list[PlateRead], size: int
    ) -> list[Window]:
        """Windows around plate-shaped patches of the region's plate colours that no candidate
        or reading covers and that are too small for the detector at `size` (at most
        PATCH_MAX, largest first); none where the region's plates are not coloured."""
        if not self.region.search_colors:
            return []
        scale = size / max(image.shape[:2])
        seen = [c.box for c in candidates] + [r.box for r in reads]
        max_height = max(PATCH_MIN_HEIGHT, int(REFINE_BELOW / scale))
        spots = colour_patches(image, self.region.search_colors, PATCH_MIN_HEIGHT, max_height)
        unseen = [p for p in spots if all(box_overlap(p, b) < OVERLAP for b in seen)]
        return [Window(p, (p[2] - p[0], p[3] - p[1]), PATCH_MARGIN) for p in unseen[:PATCH_MAX]]

    def _look_closer(
        self, image: Image, window: Window, colour: bool
    ) -> tuple[list[PlateRead], float, int]:
        """Plates detected in the window, enlarged so that its plate is REFINE_HEIGHT px tall,
        the seconds spent reading them and how many candidates that was."""
        det = self.detector
        assert isinstance(det, PpocrDetector)
        h_img, w_img = image.shape[:2]
        (w, h), box = window.plate, window.box
        mx, my = round(w * window.margin[0]), round(h * window.margin[1])
        x1, y1 = max(0, box[0] - mx), max(0, box[1] - my)
        x2, y2 = min(w_img, box[2] + mx), min(h_img, box[3] + my)
        part = image[y1:y2, x1:x2]
        if min(part.shape[:2]) < 8:
            return [], 0.0, 0  # an outline (almost) outside the frame
        enlarged = max(part.shape[:2]) * REFINE_HEIGHT / max(h, 1.0)
        local = int(np.clip(enlarged, 160, det.config.input_size))
        inner = self._layouts(part, det.detect(part, local), 2, colour)
        shift = np.array([x1, y1], np.float32)
        shifted = [replace(c, quad=c.quad + shift) for c in inner]
        t0 = time.perf_counter()
        found = self.read_candidates(image, shifted, colour)
        return found, time.perf_counter() - t0, len(shifted)

    def _layouts(
        self, image: Image, candidates: list[Candidate], limit: int, colour: bool
    ) -> list[Candidate]:
        """The best `limit` candidates in the region's plate layouts: two-row readings
        (join_rows, the Chinese layout) only where plates have two rows, and there also the
        bottom rows of two-row plates whose top row was not stacked (`_bottom_rows`).
        Elsewhere a two-row candidate is read as one line, once: a squarish US plate read as
        two rows comes out as garbage; and where plates print a name above their characters
        and a slogan below (`text_band`), a candidate shaped like a whole plate is also read in
        the band between."""
        if self.region.two_row:
            best = candidates[:limit]
            return best + self._bottom_rows(image, best, colour)
        out: list[Candidate] = []
        for cand in candidates:
            if not any(np.array_equal(cand.quad, kept.quad) for kept in out):
                out.append(Candidate(cand.quad, cand.score, two_row=False))
        out = out[:limit]
        band = self.region.text_band
        if band is None:
            return out
        bands = [
            Candidate(band_quad(c.quad, band), c.score, two_row=False, band=True)
            for c in out
            if WHOLE_PLATE_ASPECT[0] <= quad_aspect(c.quad) <= WHOLE_PLATE_ASPECT[1]
        ]
        return out + bands

    def _bottom_rows(
        self, image: Image, candidates: list[Candidate], colour: bool
    ) -> list[Candidate]:
        """Whole two-row plates outlined from a line that may be their bottom row alone
        (`above_bottom_row`).

        The short top row, province and letter 60 mm apart, is often found in pieces too
        small to stack over the bottom row, or not at all; and the bottom row alone is five
        characters, which no format accepts. So a one-row line shaped like a bottom row, on a
        background two-row plates are issued in and under a band of that background, is also
        read as the bottom of a two-row plate, unless a stacked candidate already outlines that
        plate. The band keeps a one-row yellow plate under a dark grille from being read as
        one: the recognisers read such a plate's own characters as the two rows. None in a
        colourless frame: there no colour picks the bottom rows, and reading every line so
        took a fifth longer a frame (joined rows make a wide crop)."""
        if not isinstance(self.detector, PpocrDetector):
            return []  # a plate detector outlines two-row plates whole
        if not colour:
            return []
        lines = [c for c in candidates if not c.two_row]
        stacked = [
            c.box
            for c in candidates
            if c.two_row and not any(np.array_equal(c.quad, line.quad) for line in lines)
        ]
        wholes: list[Candidate] = []
        for line in lines:
            if not BOTTOM_ROW_ASPECT[0] <= quad_aspect(line.quad) <= BOTTOM_ROW_ASPECT[1]:
                continue
            whole = Candidate(above_bottom_row(line.quad), line.score, two_row=True)
            if any(box_iou(whole.box, box) > SAME_PLATE_IOU for box in stacked):
                continue
            band = np.array([whole.quad[0], whole.quad[1], line.quad[1], line.quad[0]])
            colors = {classify_color(warp(image, q, COLOR_HEIGHT)) for q in (line.quad, band)}
            if len(colors) == 1 and colors <= set(self.region.two_row_colors):
                wholes.append(whole)
        return wholes

    def read_candidates(
        self, image: Image, candidates: list[Candidate], colour: bool | None = None
    ) -> list[PlateRead]:
        """Read given plate regions (e.g. from another detector) on one BGR frame (`colour`:
        whether the frame has colour; by default judged from it, `colourless`)."""
        if colour is None:
            colour = not colourless(image)
        crops = [self._crop(image, c) for c in candidates]
        return self._accept(image, candidates, crops, colour=colour)

    def _accept(
        self,
        image: Image,
        candidates: list[Candidate],
        crops: list[Image],
        whole: bool = False,
        colour: bool = True,
    ) -> list[PlateRead]:
        """Read the crops (`whole`: tight plate crops read whole); keep plates whose colour
        fits (any, where the frame is colourless), one per place, most confident first."""
        # a two-row reading must be on a colour two-row plates are issued in (stacked_in, below,
        # for every recogniser): a two-row crop of another colour is not read at all, which
        # spares the recognisers their widest crops (the rows side by side), most of them
        # dark grilles, blue plates and signs
        looks = [PlateLook(crop) for crop in crops]
        todo = [
            i
            for i, cand in enumerate(candidates)
            if not (colour and cand.two_row)
            or stacked_in(looks[i].seen, self.region.two_row_colors)
        ]
        found_all: list[tuple[Decoded, bool] | None] = [None] * len(crops)
        for i, found in zip(todo, self._decode([looks[i] for i in todo], whole), strict=True):
            found_all[i] = found
        reads: list[PlateRead] = []
        for cand, look, found in zip(candidates, looks, found_all, strict=True):
            if found is None:
                continue
            decoded, generic = found
            if cand.band and not self._sure(decoded):
                continue  # a second look at a plate already read whole: only a sure reading
            # colour from the perspective-corrected crop: the upright box of a tilted plate
            # holds as much car as plate; none from a colourless frame, where a plate shines
            # white
            seen = self._color(look, decoded, whole) if colour else None
            # a plate model reads painted text as a plate, so its readings must have a
            # background their format is issued in; a generic recogniser reads painted text as
            # what it is, and on a tight text box a blue plate can look white: its own
            # readings are not held to the format's colours, but still to the two-row ones (it
            # read the rows joined from a blue plate cut by the frame's edge as 皖AZA669)
            two_row = self.region.two_row_colors if cand.two_row else ()
            fits = stacked_in(seen, two_row) if generic else issued_in(decoded, seen, two_row)
            if fits:
                # a two-row plate's colour is told on the plate, not on its rows side by side
                # (join_rows), where the dark car between them outweighs a yellow plate
                plate = PlateLook(warp(image, cand.quad, REC_HEIGHT * 2)) if cand.two_row else look
                reported = self._reported_color(plate, decoded) if colour else None
                reads.append(self._plate(image, cand, decoded, reported))
        reads.sort(key=lambda r: -r.confidence)
        kept: list[PlateRead] = []
        for r in reads:
            if all(box_overlap(r.box, k.box) < OVERLAP for k in kept):
                kept.append(r)
        return kept

    def read_crop(self, plate: Image, two_row: bool = False) -> PlateRead | None:
        """Read one already cut-out plate image (no detection); None if it is not a plate."""
        h, w = plate.shape[:2]
        look = PlateLook(self._lines(plate, two_row))
        found = self._decode([look], whole=not two_row)[0]
        if found is None:
            return None
        decoded = found[0]
        # the colour is told on the plate as given (two rows stacked, emblems not blanked)
        as_given = look if look.plate is plate else PlateLook(plate)
        return PlateRead(
            decoded.text,
            None if colourless(plate) else self._reported_color(as_given, decoded),
            decoded.confidence,
            (0, 0, w, h),
            decoded.char_conf,
        )

    def _decode(
        self, looks: list[PlateLook], whole: bool = False
    ) -> list[tuple[Decoded, bool] | None]:
        """Each crop's reading (`_read`; `_read_whole` for tight plate crops read whole), read
        again without its first character where that character may be a left emblem
        (`_past_emblem`)."""
        crops = [look.plate for look in looks]
        found = self._read_whole(looks) if whole else self._read(crops)
        if not self.region.left_emblem or self.stages[0][1].top_prior <= 0:
            return found
        return self._past_emblem(crops, found)

    def _past_emblem(
        self, crops: list[Image], found: list[tuple[Decoded, bool] | None]
    ) -> list[tuple[Decoded, bool] | None]:
        """Readings of no national format, read again from the gap after their first character;
        kept where the rest is a national plate.

        A coat of arms and country code left of a small plate's text are too pale to blank: the
        recognisers read them as one more letter (HRK641AL for the Slovak RK-641AL), and the
        extra letter puts the plate outside its national format.
        """
        redo: list[int] = []
        cuts: list[Image] = []
        for i, f in enumerate(found):
            if f is None or f[0].template.prior > 0 or len(f[0].at) < 2:
                continue
            width = crops[i].shape[1]
            x = round((f[0].at[0] + f[0].at[1]) / 2 * width)  # the gap after the first character
            if 0 < x < width * EMBLEM_LEFT:
                redo.append(i)
                cuts.append(crops[i][:, x:])
        out = list(found)
        for i, again in zip(redo, self._read(cuts), strict=True):
            if again is not None and again[0].template.prior > 0:
                out[i] = again
        return out

    def _read_whole(self, looks: list[PlateLook]) -> list[tuple[Decoded, bool] | None]:
        """`_read` for one-row tight plate crops, where the chain's plate model reads first,
        alone.

        Its reading is final where every character reaches `crop_trust`, the plate's colour
        (`_color`: a colour cast is no colour) fits its format, and the model learnt its
        province from real plates (`learnt_firsts`): a crop then takes about 1 ms instead of
        PP-OCR's 9. The plate model is sure and wrong more often than PP-OCR, above all on
        provinces it saw only rendered (苏J2K181 at 0.998 for 浙J2K181), so the crops it does
        not clear are read by the whole chain. Scene candidates never take this path: there
        PP-OCR reading first is what keeps painted text from being read as a plate.
        """
        crops = [look.plate for look in looks]
        if self._fast is None:
            return self._read(crops)
        rec, decoder, firsts = self._fast
        out: list[tuple[Decoded, bool] | None] = [None] * len(crops)
        read = rec.probabilities(crops)
        for i, probs in enumerate(read):
            d = decoder.decode(probs)
            if d is None or d.confidence < self.config.min_confidence:
                continue
            learnt = firsts is None or d.text[0] in firsts
            sure = min(d.char_conf) >= self.config.crop_trust
            if learnt and sure and issued_in(d, self._color(looks[i], d, whole=True)):
                out[i] = (d, False)
        rest = [i for i, f in enumerate(out) if f is None]
        known = (rec, [read[i] for i in rest])  # the chain need not run the plate model again
        for i, found in zip(rest, self._read([crops[i] for i in rest], known), strict=True):
            out[i] = found
        return out

    def _read(
        self, crops: list[Image], known: tuple[Recogniser, list[FloatArray]] | None = None
    ) -> list[tuple[Decoded, bool] | None]:
        """Each crop's reading, and whether a generic recogniser read that text by itself.

        A recogniser reads (batched) only the crops the earlier ones are not sure of: no
        reading, or one with a character below `sure_confidence`. Two readings that differ in
        one character are fused (or settled by the referee, where there is one); otherwise an
        earlier reading that passed `min_confidence` stands, and one that did not gives way to
        the later reading. A plate the first recogniser read nothing of, or nothing passing
        `min_confidence`, has one witness: its reading must reach `sure_confidence` (PP-OCRv6
        read the rough outline of a small US plate as AX803 at 0.63, and that reading kept the
        frame from the larger pass that reads AYX8803; the plate model read a TAXI roof sign,
        which PP-OCRv4 read as nothing like a plate, as 皖ABTAX1 at 0.62). A plate model's
        such reading must be sure in every character, not only as a whole: a plate model trained
        with real crops of many provinces read a phone number on a red sign as 辽S25881 at 0.80,
        its S at 0.34. `known`: one recogniser's probabilities of every crop, already worked out.
        """
        best: list[Decoded | None] = [None] * len(crops)
        generic: list[str | None] = [None] * len(crops)
        disputes: dict[int, tuple[Decoded, Decoded]] = {}
        bars = [self.config.min_confidence] * len(crops)
        lone = [False] * len(crops)  # read by a plate model alone: sure in every character
        for rec, decoder in self.stages:
            todo = [i for i, d in enumerate(best) if not self._sure(d)]
            if not todo:
                break
            if known is not None and known[0] is rec:
                read = [known[1][i] for i in todo]
            else:
                read = rec.probabilities([crops[i] for i in todo])
            for i, probs in zip(todo, read, strict=True):
                new = decoder.decode(probs)
                if new is None:
                    continue
                if rec.generic:
                    generic[i] = new.text
                old = best[i]
                fused = None if old is None else fuse(old, new)
                if fused is not None:
                    best[i] = fused
                    if old is not None and old.text != new.text:
                        disputes[i] = (old, new)
                elif old is None or old.confidence < self.config.min_confidence:
                    if rec is not self.stages[0][0]:
                        bars[i] = max(bars[i], self.config.sure_confidence)
                        lone[i] = not rec.generic
                    best[i] = new
        if self.referee is not None and disputes:
            self._settle(crops, best, disputes)
        return [
            None
            if d is None or d.confidence < bar or (alone and not self._sure(d))
            else (d, d.text == g)
            for d, g, bar, alone in zip(best, generic, bars, lone, strict=True)
        ]

    def _settle(
        self,
        crops: list[Image],
        best: list[Decoded | None],
        disputes: dict[int, tuple[Decoded, Decoded]],
    ) -> None:
        """Let the referee read the crops whose two readings disputed a character; a referee
        that does not read the plate as a whole passing `min_confidence` has no vote."""
        assert self.referee is not None
        rec, decoder = self.referee
        order = list(disputes)
        for i, probs in zip(order, rec.probabilities([crops[i] for i in order]), strict=True):
            ref = decoder.decode(probs)
            if ref is None or ref.confidence < self.config.min_confidence:
                continue
            settled = settle(*disputes[i], ref)
            if settled is not None:
                best[i] = settled

    def _sure(self, decoded: Decoded | None) -> bool:
        return (
            decoded is not None
            and decoded.confidence >= self.config.min_confidence
            and min(decoded.char_conf) >= self.config.sure_confidence
        )

    def _crop(self, image: Image, cand: Candidate) -> Image:
        if cand.two_row:
            # not set upright: join_rows cuts the rows by the plate's layout, which undoing a
            # lean shifts (a rendered 苏E6J176 sloped 24 degrees read 苏E76176 set upright)
            return self._lines(warp(image, cand.quad, REC_HEIGHT * 2), True)
        return self._lines(upright(warp(image, cand.quad, REC_HEIGHT)), False)

    def _lines(self, plate: Image, two_row: bool) -> Image:
        """An upright plate image as the one text line the recognisers read: a two-row plate's
        rows side by side, a light plate's emblems blanked where the region has them."""
        if two_row:
            return join_rows(plate)
        return blank_emblems(plate) if self.region.left_emblem else plate

    @staticmethod
    def _plate(image: Image, cand: Candidate, decoded: Decoded, color: str | None) -> PlateRead:
        x1, y1, x2, y2 = cand.box
        h, w = image.shape[:2]
        box = (max(0, x1), max(0, y1), min(w, x2), min(h, y2))
        return PlateRead(decoded.text, color, decoded.confidence, box, decoded.char_conf)

    @staticmethod
    def _color(look: PlateLook, decoded: Decoded, whole: bool = False) -> str | None:
        """The colour the camera shows, as the format checks judge it (`issued_in`); of a
        tight crop read `whole`, a colour cast is no colour (`crop_colour`)."""
        return _large_nev(crop_colour(look) if whole else look.seen, decoded)

    @staticmethod
    def _reported_color(look: PlateLook, decoded: Decoded) -> str | None:
        """The colour a reading reports: among those its format is issued in (`plate_colour`)."""
        return _large_nev(plate_colour(look, decoded.template.colors), decoded)


def _large_nev(color: str | None, decoded: Decoded) -> str | None:
    if decoded.template.name == "nev_large" and color in ("green", "yellow"):
        return "yellow-green"  # large new-energy plates shade from yellow to green
    return color
