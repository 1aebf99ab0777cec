"""Plates read in bad weather and light: the labelled scenes in fog, haze, dusk, night, rain and
motion blur, with a peer in the same run.

No labelled photo of ours is foggy, dark or rainy, so every labelled scene of the chosen datasets
is made so (seeded, the same images for every pipeline) and read by each pipeline for its
region with one onnxruntime thread:

  clear   the photo as it is
  haze    fog thicker with distance: 75 % of a light grey (200) at the top, 35 % at the bottom
  fog     60 % of that grey everywhere
  dusk    a third as bright (x 0.35)
  night   dark tones darker (gamma 1.8, x 0.6), sensor noise (sigma 8) and JPEG at quality 50
  rain    wet haze (x 0.8 + 25), light streaks one to three characters long, slanted
  motion  a 5-pixel horizontal smear (a vehicle moving during the exposure)

A plate counts when its text is read anywhere in the photo; a reading of no labelled plate is
an other read. Prints one JSON line per pipeline and condition.

    .venv/bin/python benchmarks/plates_weather.py [--conditions clear,haze,...]
        [--datasets easypr,ccpd-scenes,...] [--pipelines ours,hlpr3+ours]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from plates import DATASETS, images, imread, make_reader  # benchmarks/ is on sys.path

from edge.vision.plates import PlateReader

Image = np.ndarray
GREY = 200.0  # the fog's own level


def haze(image: Image) -> Image:
    """Fog thicker with distance: the top of a roadside view is farther off than the bottom."""
    share = np.linspace(0.75, 0.35, image.shape[0], dtype=np.float32)[:, None, None]
    return np.clip(image * (1 - share) + GREY * share, 0, 255).astype(np.uint8)


def fog(image: Image) -> Image:
    """Even fog."""
    return np.clip(image * 0.4 + GREY * 0.6, 0, 255).astype(np.uint8)


def dusk(image: Image) -> Image:
    """An underexposed frame."""
    return (image * 0.35).astype(np.uint8)


def night(image: Image) -> Image:
    """Dark tones darker, sensor noise, a hard-working encoder."""
    dark = (image.astype(np.float32) / 255) ** 1.8 * 255 * 0.6
    noisy = dark + np.random.default_rng(1).normal(0, 8, image.shape)
    encoded = cv2.imencode(
        ".jpg", np.clip(noisy, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 50]
    )
    return np.asarray(cv2.imdecode(encoded[1], cv2.IMREAD_COLOR))


def rain(image: Image) -> Image:
    """Wet haze and light streaks."""
    rng = np.random.default_rng(0)
    h, w = image.shape[:2]
    streaks = np.zeros((h, w), np.float32)
    for _ in range(h * w // 600):
        x, y, length = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(8, 25))
        cv2.line(streaks, (x, y), (x + length // 4, y + length), 1.0, 1)
    streaks = cv2.GaussianBlur(streaks, (3, 3), 0)
    return np.clip(image * 0.8 + 25 + streaks[..., None] * 90, 0, 255).astype(np.uint8)


def motion(image: Image) -> Image:
    """A horizontal smear over 5 pixels."""
    kernel = np.zeros((5, 5), np.float32)
    kernel[2, :] = 1 / 5
    return np.asarray(cv2.filter2D(image, -1, kernel))


CONDITIONS: dict[str, Callable[[Image], Image]] = {
    "clear": lambda image: image,
    "haze": haze,
    "fog": fog,
    "dusk": dusk,
    "night": night,
    "rain": rain,
    "motion": motion,
}


def main() -> None:
    """Read every scene in every condition with every pipeline."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--conditions", default=",".join(CONDITIONS))
    ap.add_argument("--datasets", default="easypr,ccpd-scenes,openalpr-eu,openalpr-us,openalpr-br")
    ap.add_argument("--pipelines", default="ours,hlpr3+ours")
    args = ap.parse_args()
    for pipe in args.pipelines.split(","):
        readers: dict[str, PlateReader] = {}
        loads: dict[str, Any] = {}
        for condition in args.conditions.split(","):
            change = CONDITIONS[condition]
            row: dict[str, Any] = {"pipeline": pipe, "condition": condition}
            for name in args.datasets.split(","):
                region = DATASETS[name][1]
                reader = make_reader(pipe, region, readers, loads, {})
                exact = total = other = frames = 0
                spent = 0.0
                for path, truths in images(name, 0):
                    image = imread(path)
                    if image is None:
                        continue
                    changed = change(image)
                    t0 = time.perf_counter()
                    got = {r.text for r in reader.read(changed)}
                    spent += time.perf_counter() - t0
                    frames += 1
                    labels = {t.plate for t in truths}
                    exact += len(got & labels)
                    other += len(got - labels)
                    total += len(labels)
                ms = round(spent * 1000 / max(1, frames))
                row[name] = {"exact": f"{exact}/{total}", "other_reads": other, "ms": ms}
            print(json.dumps(row, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
