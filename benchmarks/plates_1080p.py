"""Plate reading time on 1920x1080 frames: the issue's speed target, on one core.

Every labelled scene of ../shared/data/plates (ccpd-scenes, easypr, openalpr) is letterboxed
into a 1920x1080 frame (scaled to fit, on grey), so a plate takes the share of the frame it
took in the photo, and read by the default PlateReader for its region with one onnxruntime
thread. Prints the mean, median and 90th percentile ms per frame, the mean of each dataset,
and the plates read exactly.

With --zone, only that part of each frame is read, as a camera's `plate_zone` is (at the
whole frame's scale): the default zone, the middle three quarters, is exactly where a 4:3
photo lies, so it cuts only wider photos (and their plates near its edges).

    .venv/bin/python benchmarks/plates_1080p.py [--config '{"detector": {"input_size": 960}}']
        [--zone [x1,y1,x2,y2]]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import cv2
import numpy as np
from plates import DATASETS, images, imread  # benchmarks/ is on sys.path when run as a script

from edge.vision.lookup import read_in_zone
from edge.vision.plates import PlateReader, PlatesConfig

W, H = 1920, 1080


def letterbox(image: np.ndarray) -> np.ndarray:
    """The image scaled to fit 1920x1080 and centred on grey."""
    h, w = image.shape[:2]
    s = min(W / w, H / h)
    small = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    frame = np.full((H, W, 3), 110, np.uint8)
    y, x = (H - small.shape[0]) // 2, (W - small.shape[1]) // 2
    frame[y : y + small.shape[0], x : x + small.shape[1]] = small
    return frame


def main() -> None:
    """Time every scene as a 1080p frame."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", type=json.loads, default={}, help="plates settings as JSON")
    ap.add_argument(
        "--zone",
        nargs="?",
        const="0.125,0,0.875,1",
        help="read only this part of each frame (shares x1,y1,x2,y2; default 0.125,0,0.875,1)",
    )
    args = ap.parse_args()
    zone = None
    if args.zone:
        x1, y1, x2, y2 = (float(v) for v in args.zone.split(","))
        zone = (x1, y1, x2, y2)
    readers: dict[str, PlateReader] = {}
    times: list[float] = []
    by_set: dict[str, list[float]] = {}
    exact = total = 0
    for name, (_, region) in DATASETS.items():
        if name.startswith("ccpd-crops"):
            continue
        cfg: dict[str, Any] = {"region": region, **args.config}
        reader = readers.setdefault(region, PlateReader(PlatesConfig.model_validate(cfg)))
        for path, truths in images(name, 0):
            image = imread(path)
            if image is None:
                continue
            frame = letterbox(image)
            t0 = time.perf_counter()
            reads = read_in_zone(reader, frame, zone)
            times.append((time.perf_counter() - t0) * 1000)
            by_set.setdefault(name, []).append(times[-1])
            got = {r.text for r in reads}
            exact += sum(t.plate in got for t in truths)
            total += len(truths)
    times.sort()
    print(
        json.dumps(
            {
                "frames": len(times),
                "ms_mean": round(statistics.mean(times), 1),
                "ms_median": round(statistics.median(times), 1),
                "ms_p90": round(times[int(0.9 * len(times))], 1),
                "exact": f"{exact}/{total}",
                "ms_mean_by_set": {k: round(statistics.mean(v), 1) for k, v in by_set.items()},
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
