"""Plate reading benchmark on ../shared/data/plates/*, with peers in the same run.

Pipelines compared on the same images:
  ours        the unit's plate reader with its default config (edge.vision.plates): PP-OCRv4
              mobile text detector (again at 960, then 1280 px on a frame without a plate) ->
              plate grouping -> PP-OCRv4 recogniser with format-aware CTC decoding, and on the
              plates PP-OCR is not sure of a second recogniser: the project's plate model in
              region cn, the rapidocr wheel's PP-OCRv6 elsewhere
  ours-ppocr  the same with the PP-OCR recogniser alone for every region
  hlpr3+ours  HyperLPR3 y5fu_320 plate detector (corner points) -> the same recognisers/decoder
  rapidocr    generic RapidOCR pipeline with its own (PP-OCRv6 small) models, no plate logic; a
              plate counts as read when one of its text lines, without separators, equals it
  rapidocr-v4 the same generic pipeline on the PP-OCRv4 mobile models ours uses

ccpd-crops-heldout is the quarter of the CCPD crops that models/plate_rec/train.py never trains
on (same hash rule); the full ccpd-crops figure includes the other three quarters, which it did.

Reports per dataset: exact-plate accuracy (and per colour), character accuracy, detection recall
(a detector candidate overlapping the labelled box), non-plate reads, ms per frame, ms per
plate read, and peak resident memory after each pipeline; for our pipelines also how many of
the plates read exactly report their labelled colour (color_right; only EasyPR and the CCPD
scenes label colours).

    .venv/bin/python benchmarks/plates.py [--limit N] [--datasets ccpd-crops,easypr,...]
        [--pipelines ours,hlpr3+ours,rapidocr,rapidocr-v4,ours-ppocr] [--json out.json]
        [--config '{"detector": {"retry_sizes": []}}']
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import resource
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.vision.plates import PlateReader, PlatesConfig
from edge.vision.plates.recognise import PPOCR_MOBILE

ROOT = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
PLATES = ROOT / "plates"
HYPERLPR = ROOT / "models" / "hyperlpr3" / "y5fu_320x_sim.onnx"
DATASETS = {  # name -> (folder, region)
    "ccpd-crops-heldout": ("ccpd-crops", "cn"),
    "ccpd-crops": ("ccpd-crops", "cn"),
    "ccpd-scenes": ("ccpd-scenes", "cn"),
    "easypr": ("easypr", "cn"),
    "openalpr-eu": ("openalpr/eu", "eu"),
    "openalpr-us": ("openalpr/us", "us"),
    "openalpr-br": ("openalpr/br", "br"),
}
SEPARATORS = str.maketrans("", "", "·.-: ")


@dataclass
class Truth:
    plate: str
    color: str
    box: tuple[int, int, int, int] | None


@dataclass
class Result:
    """Accumulated metrics of one pipeline on one dataset."""

    plates: int = 0
    exact: int = 0
    chars: float = 0.0
    detected: int = 0
    extra: int = 0
    frames: int = 0
    frame_ms: float = 0.0
    reads: int = 0
    read_ms: float = 0.0
    by_color: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    color_right: int = 0  # plates read exactly whose reported colour is the labelled one
    color_told: int = 0  # plates read exactly with a labelled colour, by a pipeline that tells

    def summary(self) -> dict[str, Any]:
        n = max(1, self.plates)
        return {
            "plates": self.plates,
            "exact": round(self.exact / n, 4),
            "char_acc": round(self.chars / n, 4),
            "det_recall": round(self.detected / n, 4),
            "non_plate_reads": self.extra,
            "ms_frame": round(self.frame_ms / max(1, self.frames), 1),
            "ms_plate": round(self.read_ms / max(1, self.reads), 2),
            "exact_by_color": {c: f"{v[0]}/{v[1]}" for c, v in sorted(self.by_color.items())},
            "color_right": f"{self.color_right}/{self.color_told}" if self.color_told else "-",
        }


def imread(path: Path) -> np.ndarray | None:
    data = np.fromfile(path, np.uint8)
    return None if data.size == 0 else cv2.imdecode(data, cv2.IMREAD_COLOR)


def load_truth(folder: Path) -> dict[str, list[Truth]]:
    """labels.csv -> file -> plates (header row optional; openalpr files have none)."""
    with (folder / "labels.csv").open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header = rows[0] if rows and rows[0][0] == "file" else ["file", "plate", "x1", "y1", "x2", "y2"]
    body = rows[1:] if rows and rows[0][0] == "file" else rows
    out: dict[str, list[Truth]] = defaultdict(list)
    for values in body:
        row = dict(zip(header, values, strict=False))
        box = None
        if row.get("x1"):
            box = (int(row["x1"]), int(row["y1"]), int(row["x2"]), int(row["y2"]))
        out[row["file"]].append(Truth(row["plate"], row.get("color", "") or "?", box))
    return out


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def overlaps(a: tuple[int, int, int, int] | None, b: tuple[int, int, int, int]) -> bool:
    """True when b's centre lies in a (lenient: label boxes and text boxes differ in margin)."""
    if a is None:
        return True
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    return a[0] <= cx <= a[2] and a[1] <= cy <= a[3]


def score(
    res: Result,
    truths: list[Truth],
    texts: list[tuple[str, tuple[int, int, int, int] | None]],
    colors: list[str | None] | None = None,
):
    """Exact/char accuracy per labelled plate; reads matching no label count as non-plate;
    `colors`: the reads' colours, for a pipeline that tells them."""
    used: set[int] = set()
    for t in truths:
        res.plates += 1
        res.by_color[t.color][1] += 1
        hits = [i for i, (txt, _) in enumerate(texts) if txt == t.plate]
        if hits:
            res.exact += 1
            res.chars += 1.0
            res.by_color[t.color][0] += 1
            if colors is not None and t.color != "?":
                res.color_told += 1
                res.color_right += colors[hits[0]] == t.color
            used.add(hits[0])
            continue
        near = [i for i, (_, b) in enumerate(texts) if b is None or overlaps(t.box, b)]
        if near:
            best = min(near, key=lambda i: edit_distance(texts[i][0], t.plate))
            used.add(best)
            res.chars += max(0.0, 1 - edit_distance(texts[best][0], t.plate) / len(t.plate))
    res.extra += len(texts) - len(used)


def held_out(file: str) -> bool:
    """The training script's split (models/plate_rec/data.py is_holdout)."""
    return hashlib.sha256(file.encode()).digest()[0] < 64


def images(name: str, limit: int) -> Iterator[tuple[Path, list[Truth]]]:
    folder = PLATES / DATASETS[name][0]
    items = load_truth(folder).items()
    if name.endswith("-heldout"):
        items = [(f, t) for f, t in items if held_out(f)]
    for k, (file, truths) in enumerate(items):
        if limit and k >= limit:
            return
        sub = folder / "images"
        yield (sub if sub.is_dir() else folder) / file, truths


def run_reader(name: str, reader: PlateReader, limit: int, crops: bool) -> Result:
    """Every image through PlateReader.read_frame, as `edge plates read` does (a tight crop is
    read whole; ms per plate is the recognising time per candidate read, over every detector
    pass and closer look)."""
    res = Result()
    for path, truths in images(name, limit):
        image = imread(path)
        if image is None:
            continue
        t0 = time.perf_counter()
        frame = reader.read_frame(image)
        res.frame_ms += (time.perf_counter() - t0) * 1000
        res.frames += 1
        res.reads += frame.recognised
        res.read_ms += frame.recognise_s * 1000
        for t in truths:
            res.detected += crops or any(overlaps(t.box, c.box) for c in frame.candidates)
        reads = [(r.text, None if crops else r.box) for r in frame.reads]
        score(res, truths, reads, [r.color for r in frame.reads])
    return res


def run_rapidocr(name: str, limit: int, crops: bool, mobile: bool) -> Result:
    """The generic RapidOCR pipeline; `mobile`: with the PP-OCRv4 mobile models ours uses, as
    the wheel has them (ours runs them rewritten by fold.py, same outputs, fewer operators)."""
    from rapidocr import RapidOCR

    params: dict[str, Any] = {
        "Global.log_level": "error",
        "EngineConfig.onnxruntime.intra_op_num_threads": 1,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    }
    if crops:
        params |= {"Global.use_det": False, "Global.use_cls": False}
    if mobile:
        params |= {
            "Det.model_path": str(PPOCR_MOBILE / "ch_PP-OCRv4_det_mobile.onnx"),
            "Rec.model_path": str(PPOCR_MOBILE / "ch_PP-OCRv4_rec_mobile.onnx"),
        }
    engine = RapidOCR(params=params)
    res = Result()
    for path, truths in images(name, limit):
        image = imread(path)
        if image is None:
            continue
        t0 = time.perf_counter()
        out = engine(image)
        ms = (time.perf_counter() - t0) * 1000
        txts = list(getattr(out, "txts", None) or [])
        boxes = getattr(out, "boxes", None)
        texts: list[tuple[str, tuple[int, int, int, int] | None]] = []
        for i, txt in enumerate(txts):
            box = None
            if boxes is not None and not crops:
                pts = np.asarray(boxes[i])
                box = (*pts.min(axis=0).astype(int), *pts.max(axis=0).astype(int))
            texts.append((txt.translate(SEPARATORS).upper(), box))
        res.frames += 1
        res.frame_ms += ms
        res.reads += max(1, len(txts))
        res.read_ms += ms
        res.detected += sum(any(overlaps(t.box, b) for _, b in texts) for t in truths)
        score(res, truths, texts)
    return res


def make_reader(
    pipe: str,
    region: str,
    cache: dict[str, PlateReader],
    results: dict[str, Any],
    overrides: dict[str, Any],
) -> PlateReader:
    """One PlateReader per pipeline and region, timed from load to warm."""
    if region not in cache:
        cfg: dict[str, Any] = {"region": region, **overrides}
        if pipe == "ours-ppocr":
            cfg["recogniser"] = {"type": "ppocr-rec"}
        if pipe == "hlpr3+ours":
            cfg["detector"] = {"type": "yolo-plate", "path": HYPERLPR, "input_size": 320}
        t0 = time.perf_counter()
        cache[region] = PlateReader(PlatesConfig.model_validate(cfg))
        results.setdefault(pipe, {})[f"load_s_{region}"] = round(time.perf_counter() - t0, 2)
    return cache[region]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--limit", type=int, default=0, help="images per dataset (0 = all)")
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--pipelines", default="ours,hlpr3+ours,rapidocr,rapidocr-v4")
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--config",
        type=json.loads,
        default={},
        help="plates settings for our pipelines, as JSON, e.g. "
        '\'{"detector": {"retry_sizes": []}}\'',
    )
    args = ap.parse_args()
    results: dict[str, Any] = {}
    for pipe in args.pipelines.split(","):
        per_region: dict[str, PlateReader] = {}
        for name in args.datasets.split(","):
            crops = name.startswith("ccpd-crops")
            if pipe == "hlpr3+ours" and crops:
                continue
            region = DATASETS[name][1]
            if pipe.startswith("rapidocr"):
                res = run_rapidocr(name, args.limit, crops, mobile=pipe == "rapidocr-v4")
            else:
                reader = make_reader(pipe, region, per_region, results, args.config)
                res = run_reader(name, reader, args.limit, crops)
            results.setdefault(pipe, {})[name] = res.summary()
            # one reader (one region) is what a unit runs: its footprint is the first figure
            results[pipe].setdefault("peak_rss_mb_one_reader", round(peak_mb(), 1))
            print(
                f"{pipe:11s} {name:12s} {json.dumps(res.summary(), ensure_ascii=False)}", flush=True
            )
        results[pipe]["peak_rss_mb"] = round(peak_mb(), 1)
        print(f"{pipe:11s} peak RSS so far {peak_mb():.0f} MB", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
