"""Plates read on turned photos: a camera on a slope or a tilted mount turns the whole scene.

Every labelled scene of the chosen datasets is rotated about its centre by each angle (borders
reflected, so no straight frame edge is added) and read by the default PlateReader for its
region with one onnxruntime thread. A plate counts when its text is read anywhere in the photo
(as in plates_1080p.py: the labelled boxes do not turn with it). Prints one JSON line per angle.

    .venv/bin/python benchmarks/plates_turned.py [--angles 0,15,-10,25] [--datasets easypr]
"""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
from plates import DATASETS, images, imread  # benchmarks/ is on sys.path when run as a script

from edge.vision.plates import PlateReader, PlatesConfig


def turn(image: np.ndarray, degrees: float) -> np.ndarray:
    """The image rotated about its centre, same size, borders reflected."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def main() -> None:
    """Read every scene at every angle."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--angles", default="0,15,-10,25", help="degrees, counter-clockwise")
    ap.add_argument("--datasets", default="easypr,ccpd-scenes")
    args = ap.parse_args()
    readers: dict[str, PlateReader] = {}
    for angle in (float(a) for a in args.angles.split(",")):
        exact = total = other = 0
        for name in args.datasets.split(","):
            region = DATASETS[name][1]
            reader = readers.setdefault(region, PlateReader(PlatesConfig(region=region)))
            for path, truths in images(name, 0):
                image = imread(path)
                if image is None:
                    continue
                got = {r.text for r in reader.read(turn(image, angle))}
                labels = {t.plate for t in truths}
                exact += len(got & labels)
                other += len(got - labels)
                total += len(labels)
        print(json.dumps({"angle": angle, "exact": f"{exact}/{total}", "other_reads": other}))


if __name__ == "__main__":
    main()
