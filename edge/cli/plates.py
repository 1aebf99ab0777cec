"""`edge plates read IMAGE... [--json] [--region R]`: read licence plates on still images."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.vision.plates import PlateRead, PlateReader, PlatesConfig
from edge.vision.plates.formats import load_regions


def add_parser(sub: Any) -> None:
    """Register `edge plates read`."""
    p = sub.add_parser("plates", help="licence plate tools")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    r = actions.add_parser("read", help="read plates on still images")
    r.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    r.add_argument("--json", action="store_true", help="one JSON object per image on stdout")
    r.add_argument(
        "--region", default="cn", choices=sorted(load_regions()), help="plate formats (cn)"
    )
    r.add_argument(
        "--detector",
        type=Path,
        metavar="ONNX",
        help="a YOLO-style plate detector (e.g. HyperLPR3 y5fu_320x_sim.onnx) instead of "
        "the packaged PP-OCR text detector",
    )
    r.add_argument("--threads", type=int, default=1, help="CPU threads per model (1)")
    r.set_defaults(func=run)


def _config(args: argparse.Namespace) -> PlatesConfig:
    detector: dict[str, Any] = {}
    if args.detector is not None:
        detector = {"type": "yolo-plate", "path": args.detector, "input_size": 320}
    return PlatesConfig.model_validate(
        {"region": args.region, "detector": detector, "threads": max(1, args.threads)}
    )


def load_image(path: Path) -> npt.NDArray[np.uint8] | None:
    """BGR pixels of an image file, or None if it cannot be read or decoded."""
    try:
        data = np.fromfile(path, dtype=np.uint8)  # np.fromfile: non-ASCII names work
    except OSError:
        return None
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return None if image is None else np.asarray(image, dtype=np.uint8)


def _plate_json(p: PlateRead) -> dict[str, Any]:
    return {
        "text": p.text,
        "color": p.color,
        "confidence": round(p.confidence, 4),
        "box": list(p.box),
    }


def run(args: argparse.Namespace) -> int:
    """Read every image; an unreadable one is reported (exit 1) and the others still read."""
    reader = PlateReader(_config(args))  # ModelError names the model path -> exit 2
    failed = 0
    for path in args.images:
        t0 = time.perf_counter()
        image = load_image(path)
        if image is None:
            failed += 1
            print(f"edge plates read: {path}: cannot read image", file=sys.stderr)
            if args.json:
                print(json.dumps({"file": str(path), "error": "cannot read image"}))
            continue
        plates = reader.read(image)
        ms = round((time.perf_counter() - t0) * 1000, 1)
        if args.json:
            out = {"file": str(path), "plates": [_plate_json(p) for p in plates], "ms": ms}
            print(json.dumps(out, ensure_ascii=False), flush=True)
        else:
            found = ", ".join(
                f"{p.text} ({p.color or '?'}, {p.confidence:.2f}, box {list(p.box)})"
                for p in plates
            )
            print(f"{path}: {found or 'no plate'} [{ms} ms]", flush=True)
    return 1 if failed else 0
