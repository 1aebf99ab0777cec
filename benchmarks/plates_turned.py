"""Plates read on turned and skewed photos: a camera on a slope or a tilted mount turns the
whole scene; a camera beside the lane sees a plate's line slope, and its characters lean.

Every labelled scene of the chosen datasets is rotated about its centre by each angle, sloped
(y shifted by k per pixel of x from the centre) by each slope and leaned (x shifted by k per
pixel of y) by each lean (borders reflected, so no straight frame edge is added), and read by
the default PlateReader for its region with one onnxruntime thread. A plate counts when its text
is read anywhere in the photo (as in plates_1080p.py: the labelled boxes do not move with it).
Prints one JSON line per view.

    .venv/bin/python benchmarks/plates_turned.py [--angles 0,15,-10,25] [--slopes 0.2,0.35]
        [--leans 0.2,0.35] [--datasets easypr]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import cv2
import numpy as np
from plates import DATASETS, images, imread  # benchmarks/ is on sys.path when run as a script

from edge.vision.plates import PlateReader, PlatesConfig

Image = np.ndarray


def turn(image: np.ndarray, degrees: float) -> np.ndarray:
    """The image rotated about its centre, same size, borders reflected."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def skew(image: np.ndarray, slope: float, lean: float) -> np.ndarray:
    """The image sheared about its centre: y += slope * x, x += lean * y; borders reflected."""
    h, w = image.shape[:2]
    m = np.float32([[1, lean, -lean * h / 2], [slope, 1, -slope * w / 2]])
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def views(args: argparse.Namespace) -> list[tuple[dict[str, float], Callable[[Image], Image]]]:
    """(what the view is, how a photo is turned into it) for every angle, slope and lean."""
    out: list[tuple[dict[str, float], Callable[[Image], Image]]] = []
    for a in _numbers(args.angles):
        out.append(({"angle": a}, lambda image, a=a: turn(image, a)))
    for k in _numbers(args.slopes):
        out.append(({"slope": k}, lambda image, k=k: skew(image, k, 0.0)))
    for k in _numbers(args.leans):
        out.append(({"lean": k}, lambda image, k=k: skew(image, 0.0, k)))
    return out


def _numbers(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def main() -> None:
    """Read every scene in every view."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--angles", default="0,15,-10,25", help="degrees, counter-clockwise")
    ap.add_argument("--slopes", default="", help="e.g. 0.2,0.35 (0.35: 19 degrees)")
    ap.add_argument("--leans", default="", help="e.g. 0.2,0.35")
    ap.add_argument("--datasets", default="easypr,ccpd-scenes")
    args = ap.parse_args()
    readers: dict[str, PlateReader] = {}
    for view, change in views(args):
        exact = total = other = 0
        for name in args.datasets.split(","):
            region = DATASETS[name][1]
            reader = readers.setdefault(region, PlateReader(PlatesConfig(region=region)))
            for path, truths in images(name, 0):
                image = imread(path)
                if image is None:
                    continue
                got = {r.text for r in reader.read(change(image))}
                labels = {t.plate for t in truths}
                exact += len(got & labels)
                other += len(got - labels)
                total += len(labels)
        print(json.dumps({**view, "exact": f"{exact}/{total}", "other_reads": other}))


if __name__ == "__main__":
    main()
