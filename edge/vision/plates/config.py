"""Plate reading configuration (the site file's `plates:` section)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from edge.config.base import ConfigModel
from edge.vision.plates.formats import load_regions

Provider = Literal["cpu", "cuda", "tensorrt"]


class DetectorConfig(ConfigModel):
    """Where plates are in a frame: a text detector (packaged) or a YOLO-style plate detector."""

    type: Literal["ppocr-det", "yolo-plate"] = Field(
        "ppocr-det",
        description="ppocr-det: PP-OCR text detector from the rapidocr wheel, filtered by plate "
        "geometry; yolo-plate: a YOLOv5-style plate detector (rows cx,cy,w,h,obj,[8 corner "
        "coords],class scores), e.g. HyperLPR3 y5fu_320x_sim.onnx",
    )
    path: Path | None = Field(
        None, description="ONNX file; default: the packaged model (required for yolo-plate)"
    )
    input_size: int = Field(
        640, ge=160, le=2048, description="ppocr-det: longest side in px; yolo-plate: square side"
    )
    retry_sizes: list[int] = Field(
        [960, 1280],
        max_length=4,
        description="ppocr-det: when a frame gives no plate at input_size, detect again at each "
        "of these longest sides in turn until one gives a plate ([] = never): small plates in a "
        "large frame need it, and so do plates in a small image (the detector sees them better "
        "enlarged); it costs more, slower passes only on frames without a plate",
    )
    score_threshold: float = Field(
        0.3, ge=0.0, le=1.0, description="minimum detection score (yolo: obj*class; DB: box mean)"
    )
    nms_iou: float = Field(0.5, gt=0.0, le=1.0, description="IoU above which boxes are merged")
    min_height: int = Field(8, ge=4, le=200, description="smallest plate/text height read, px")
    dehaze: bool = Field(
        True,
        description="ppocr-det: take the veil of haze or smog off a hazy picture before "
        "detecting text in it (a clear one is detected as it is)",
    )

    @field_validator("retry_sizes")
    @classmethod
    def _growing(cls, sizes: list[int]) -> list[int]:
        if any(not 160 <= s <= 2048 for s in sizes):
            raise ValueError("each retry size is 160-2048 px")
        if sizes != sorted(set(sizes)):
            raise ValueError("retry sizes grow, each larger than the one before")
        return sizes


class RecogniserConfig(ConfigModel):
    """Reads the characters of a plate crop: any CTC model with a character list."""

    type: Literal["auto", "plate-cn", "ppocr-rec", "ctc"] = Field(
        "auto",
        description="auto: ppocr-rec, then on the plates it is not sure of plate-cn in region "
        "cn and elsewhere the rapidocr wheel's newer PP-OCR recogniser; plate-cn: the project's "
        "Chinese plate recogniser "
        "alone (models/plate_rec, shipped in the package); ppocr-rec: PP-OCR "
        "recogniser from the rapidocr wheel (charset inside the model); ctc: any CTC recogniser "
        "given with its charset file",
    )
    path: Path | None = Field(None, description="ONNX file; default: the packaged model")
    charset: Path | None = Field(
        None, description="text file, one character per line (required for type ctc)"
    )
    blank: Literal["first", "last"] = Field("first", description="CTC blank index position")
    input_height: int = Field(48, ge=8, le=128, description="model input height, px")
    small_height: int = Field(
        40,
        ge=0,
        le=128,
        description="variable-width models: a plate image at most this tall (a tight crop of "
        "a small plate, read whole) is read at this height instead of input_height (0 = "
        "never): enlarging it further adds no detail, and PP-OCR reads such crops as well at "
        "40 px as at 48, a third faster",
    )
    input_width: int = Field(
        0, ge=0, le=1024, description="fixed model input width in px; 0 = keep the crop's aspect"
    )
    channels: Literal["bgr", "rgb"] = Field("bgr", description="channel order the model expects")
    mean: float = Field(127.5, ge=0.0, le=255.0, description="subtracted from pixel values")
    scale: float = Field(1 / 127.5, gt=0.0, le=1.0, description="multiplied after the mean")

    @model_validator(mode="after")
    def _ctc_needs_files(self) -> RecogniserConfig:
        if self.type == "ctc" and (self.path is None or self.charset is None):
            raise ValueError("recogniser type ctc needs both path and charset")
        return self


class PlatesConfig(ConfigModel):
    """Plate detection and reading: models, execution providers, region formats, thresholds."""

    region: str = Field(
        "cn",
        description="plate formats to accept: cn, eu, us, br (edge/vision/plates/formats.yaml)",
    )
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    recogniser: RecogniserConfig = Field(default_factory=RecogniserConfig)
    providers: list[Provider] = Field(
        default_factory=lambda: list[Provider](["cpu"]),
        min_length=1,
        description="onnxruntime execution providers in order of preference (CPU is the fallback)",
    )
    threads: int = Field(1, ge=1, le=64, description="CPU threads per model")
    min_confidence: float = Field(
        0.6, ge=0.0, le=1.0, description="readings below this (geometric mean of chars) dropped"
    )
    sure_confidence: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="a reading with every character at least this confident is final; below "
        "it the next recogniser (auto: the plate model in region cn, the newer PP-OCR "
        "elsewhere) reads the plate too, and a single character the two dispute goes to the "
        "more confident; a plate only the later recogniser reads must be this confident",
    )
    crop_trust: float = Field(
        0.95,
        ge=0.0,
        le=1.0,
        description="a tight plate crop read whole (an image small and shaped like a plate, "
        "`edge plates read` on a crop) is first read by the chain's plate model alone (auto, "
        "region cn), and that reading is final if every character is at least this "
        "confident: about 1 ms a crop instead of 9; below it the whole chain reads the crop "
        "(1 = never)",
    )
    max_candidates: int = Field(
        12, ge=1, le=100, description="most plate candidates read per frame, best scores first"
    )

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        known = load_regions()
        if value not in known:
            raise ValueError(f"unknown region {value!r}; known: {', '.join(sorted(known))}")
        return value
