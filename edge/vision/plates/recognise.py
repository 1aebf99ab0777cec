"""CTC plate recognisers: the PP-OCR recogniser from the rapidocr wheel, or any CTC model.

The recogniser only turns crops into per-step character probabilities; which text they spell
is decided by the format-aware decoder (decode.py), so any CTC model with a character list can
be dropped in by configuration.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.errors import ModelError
from edge.vision.plates.config import RecogniserConfig
from edge.vision.plates.runtime import open_session

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
Image = npt.NDArray[np.uint8]
MAX_ASPECT = 12  # widest crop fed to the recogniser, in multiples of its input height
WIDTH_SPREAD = 1.3  # crops batched together differ in width by at most this factor
PLATE_CN = Path(__file__).with_name("plate_rec_cn.onnx")  # trained by models/plate_rec/train.py
# real training crops of a province a plate model must have learnt from before its reading of
# that province is taken alone (the shipped model's next province after 皖 has 5)
TRUST_MIN_REAL = 50
# PP-OCRv4 mobile det/rec from the rapidocr 3.8.4 wheel, installed by scripts/install-models.sh
PPOCR_MOBILE = Path(sys.prefix) / "share/roadside-edge/rapidocr-3.8.4/rapidocr/models"


def resolve(config: RecogniserConfig, region: str) -> list[RecogniserConfig]:
    """The recognisers to run, in order: a later one reads only the plates the earlier ones
    are not sure of (PlateReader fuses or replaces their readings).

    `auto` is PP-OCRv4 (it has read the most kinds of real plates), then for region cn the
    project's plate model: PP-OCR is unsure of small plates whose province it cannot read, and
    those the plate model reads. Elsewhere the second is the rapidocr wheel's own, newer PP-OCR
    recogniser: it errs on other US characters than v4 (G/6, I/1, D/0) and reads some plates v4
    rejects; as a third reader in region cn it only added non-plate reads, so there it is the
    referee (benchmarks/README.md "Plates").
    """
    if config.type == "auto":
        ppocr = config.model_copy(update={"type": "ppocr-rec"})
        if region == "cn":
            return [ppocr, _plate_cn(config)]
        newer = _newer_ppocr(config)
        return [ppocr] if newer is None else [ppocr, newer]
    if config.type == "plate-cn":
        return [_plate_cn(config)]
    return [config]


def referee(config: RecogniserConfig, region: str) -> RecogniserConfig | None:
    """The recogniser that settles a character the two of `auto` in region cn dispute: the
    rapidocr wheel's newer PP-OCR (benchmarks/README.md "Plates"); None elsewhere, where it is
    already the second recogniser, or when it is the first."""
    if config.type != "auto" or region != "cn":
        return None
    return _newer_ppocr(config)


def _newer_ppocr(config: RecogniserConfig) -> RecogniserConfig | None:
    """The rapidocr wheel's own PP-OCR recogniser, unless it is the one `auto` reads first
    (the PP-OCRv4 files are not installed) or the wheel has none."""
    newer = _newest_wheel_model("rec")
    if newer is None or newer == (config.path or rapidocr_model("rec")):
        return None
    return config.model_copy(update={"type": "ppocr-rec", "path": newer})


def _plate_cn(config: RecogniserConfig) -> RecogniserConfig:
    """The packaged Chinese plate model; its input is fixed by its training (models/plate_rec)."""
    explicit = config.type == "plate-cn"
    return config.model_copy(
        update={
            "type": "ctc",
            "path": (config.path if explicit else None) or PLATE_CN,
            "charset": (config.charset if explicit else None) or PLATE_CN.with_suffix(".txt"),
            "blank": "first",
            "input_height": 32,
            "input_width": 128,
            "channels": "bgr",
            "mean": 127.5,
            "scale": 1 / 127.5,
        }
    )


def learnt_firsts(model: Path) -> frozenset[str] | None:
    """The first characters (provinces) a plate model learnt from at least TRUST_MIN_REAL real
    crops, from the JSON card beside it (`real_train_first`, written by
    models/plate_rec/train.py); None where the card does not say (no such limit)."""
    card = model.with_suffix(".json")
    if not card.is_file():
        return None
    try:
        counts = json.loads(card.read_text(encoding="utf-8")).get("real_train_first")
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelError(f"{card}: not a readable model card: {exc}") from exc
    if not isinstance(counts, dict):
        return None
    return frozenset(c for c, n in counts.items() if isinstance(n, int) and n >= TRUST_MIN_REAL)


def rapidocr_model(kind: str) -> Path:
    """The packaged PP-OCR model of a kind ('det', 'rec').

    The PP-OCRv4 mobile models that scripts/install-models.sh puts beside the venv when they are
    there (4x faster than PP-OCRv6 small on a CPU, and they read more plates), in the form it
    rewrites them to (fold.py: the same outputs, a quarter faster) when that is there too;
    otherwise the newest model inside the installed rapidocr wheel, with a warning.
    """
    mobile = PPOCR_MOBILE / f"ch_PP-OCRv4_{kind}_mobile.onnx"
    folded = mobile.with_suffix(".folded.onnx")
    if folded.is_file():
        return folded
    if mobile.is_file():
        return mobile
    newest = _newest_wheel_model(kind)
    if newest is None:
        raise ModelError(
            f"{rapidocr_wheel_models()}: no PP-OCR {kind} model in the rapidocr package"
        )
    log.warning(
        "%s missing (run scripts/install-models.sh): using the slower %s", mobile, newest.name
    )
    return newest


def _newest_wheel_model(kind: str) -> Path | None:
    """The newest PP-OCR model of a kind inside the installed rapidocr wheel, if any."""
    found = sorted(rapidocr_wheel_models().glob(f"*_{kind}_*.onnx"))
    return found[-1] if found else None  # newest version sorts last (PP-OCRv4 < PP-OCRv5 < ...)


def rapidocr_wheel_models() -> Path:
    """The models folder inside the installed rapidocr wheel (the fallback models)."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "rapidocr is not installed: no packaged PP-OCR models (pip install rapidocr)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _batches(heights: Sequence[int], widths: Sequence[int]) -> list[list[int]]:
    """Crop indices per model call: one input height, widths within WIDTH_SPREAD of the
    narrowest (the call pads every crop to the widest)."""
    batches: list[list[int]] = []
    for i in sorted(range(len(heights)), key=lambda k: (heights[k], widths[k])):
        last = batches[-1] if batches else None
        if last and heights[i] == heights[last[0]] and widths[i] <= WIDTH_SPREAD * widths[last[0]]:
            last.append(i)
        else:
            batches.append([i])
    return batches


class Recogniser:
    """Crops in, (T, V) CTC probabilities out, with the vocabulary to read them."""

    def __init__(self, config: RecogniserConfig, providers: Sequence[str], threads: int) -> None:
        """Load the model and its character list; ModelError naming the path on failure."""
        self.config = config
        self.path = config.path or rapidocr_model("rec")
        # a generic text recogniser reads painted text as text; a plate model reads a plate
        self.generic = config.type == "ppocr-rec"
        self.session: Any = open_session(self.path, providers, threads)
        self.input_name: str = self.session.get_inputs()[0].name
        dims = self.session.get_inputs()[0].shape
        # a model exported for one input height (PP-OCRv6: 48) is fed only that height
        self.fixed_height: int | None = (
            dims[2] if len(dims) == 4 and isinstance(dims[2], int) and dims[2] > 0 else None
        )
        chars = self._characters()
        if config.blank == "first":
            self.vocab_list = ["<blank>", *chars]
            self.blank = 0
        else:
            self.vocab_list = [*chars, "<blank>"]
            self.blank = len(chars)
        self.vocab = {c: i for i, c in enumerate(self.vocab_list) if i != self.blank}
        self._logits: bool | None = None  # whether the model outputs logits, not probabilities

    def _characters(self) -> list[str]:
        if self.config.charset is not None:
            try:
                text = self.config.charset.read_text(encoding="utf-8")
            except OSError as exc:
                raise ModelError(f"{self.config.charset}: cannot read charset: {exc}") from exc
            return text.rstrip("\n").split("\n")
        meta = self.session.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise ModelError(f"{self.path}: no 'character' list in the model; give a charset file")
        # PP-OCR appends a space class after the dictionary (use_space_char)
        return [*str(meta["character"]).split("\n"), " "]

    def _height(self, crop: Image) -> int:
        """Model input height for a crop: small crops at small_height (variable-width models
        whose input height is not fixed)."""
        cfg = self.config
        if self.fixed_height is not None:
            return self.fixed_height
        small = 0 < cfg.small_height < cfg.input_height and not cfg.input_width
        return cfg.small_height if small and crop.shape[0] <= cfg.small_height else cfg.input_height

    def _prepare(self, crop: Image, height: int, width: int) -> FloatArray:
        cfg = self.config
        h, w = crop.shape[:2]
        target = cfg.input_width or min(width, max(1, math.ceil(height * w / h)))
        shrink = target < w
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        img = cv2.resize(crop, (target, height), interpolation=interpolation)
        if cfg.channels == "rgb":
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        x = (img.astype(np.float32) - cfg.mean) * cfg.scale
        out = np.zeros((3, height, width), dtype=np.float32)
        out[:, :, :target] = x.transpose(2, 0, 1)
        return out

    def probabilities(self, crops: Sequence[Image]) -> list[FloatArray]:
        """One (T, V) probability matrix per crop.

        Crops of one input height and similar width share a model call; a long text line is not
        batched with plates, which would pad every plate to its width and multiply the cost.
        """
        if self.config.input_width:
            return self._run(crops, self.config.input_height, self.config.input_width)
        heights = [self._height(c) for c in crops]
        widths = [self._width(c, h) for c, h in zip(crops, heights, strict=True)]
        out: list[FloatArray] = [np.zeros((0, 0), np.float32)] * len(crops)
        for group in _batches(heights, widths):
            probs = self._run([crops[j] for j in group], heights[group[0]], widths[group[-1]])
            for j, p in zip(group, probs, strict=True):
                out[j] = p
        return out

    def _width(self, crop: Image, height: int) -> int:
        aspect = float(crop.shape[1]) / max(1, int(crop.shape[0]))
        return math.ceil(height * min(MAX_ASPECT, aspect) / 8) * 8

    def _run(self, crops: Sequence[Image], height: int, width: int) -> list[FloatArray]:
        if not crops:
            return []
        batch = np.stack([self._prepare(c, height, width) for c in crops])
        raw = np.asarray(self.session.run(None, {self.input_name: batch})[0], dtype=np.float32)
        return [self._to_probs(raw, i) for i in range(len(crops))]

    def _to_probs(self, raw: FloatArray, i: int) -> FloatArray:
        """Normalise layouts (N,T,V), (N,V,T), (N,1,T,V), (N,V,1,T) and logits to (T, V)."""
        n_vocab = len(self.vocab_list)
        m = raw[i].squeeze()
        if m.ndim != 2 or n_vocab not in m.shape:
            raise ModelError(f"{self.path}: output {raw.shape} does not match {n_vocab} classes")
        if m.shape[-1] != n_vocab:
            m = m.T
        if self._logits is None:
            # judged once per model: the check costs a tenth of a ms on PP-OCR's 6,625 classes
            self._logits = bool(m.min() < 0 or not np.allclose(m.sum(axis=1), 1.0, atol=1e-2))
        if self._logits:
            e = np.exp(m - m.max(axis=1, keepdims=True))
            m = e / e.sum(axis=1, keepdims=True)
        return np.ascontiguousarray(m, dtype=np.float32)
