"""Plates read when each labelled scene is framed a few pixels differently.

The text detector works on a grid (its deepest features are 32 px apart at its input), and
what it outlines depends on where a plate falls on that grid. Every labelled scene of
../shared/data/plates (ccpd-scenes, easypr, openalpr) is read as taken and with its first
`k` rows and columns cut off, for each shift k: the plates read exactly at each shift, their
mean, and the photos whose plates come and go. A rule tuned until the photos as taken read
right can hold at one framing only; the hidden images are framed any way, so the mean over the
shifts is the fairer figure.

    .venv/bin/python benchmarks/plates_shifted.py [--shifts 0,8,16,24] [--datasets easypr,...]
"""

from __future__ import annotations

import argparse
import json
import statistics

from plates import DATASETS, images, imread  # benchmarks/ is on sys.path when run as a script

from edge.vision.plates import PlateReader, PlatesConfig


def main() -> None:
    """Read every scene at every shift and print the exact plates per dataset and shift."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--shifts", default="0,8,16,24", help="pixels cut off the top and left")
    scenes = [name for name in DATASETS if not name.startswith("ccpd-crops")]
    ap.add_argument("--datasets", default=",".join(scenes))
    args = ap.parse_args()
    shifts = [int(v) for v in args.shifts.split(",")]
    readers: dict[str, PlateReader] = {}
    report: dict[str, dict[str, object]] = {}
    for name in args.datasets.split(","):
        region = DATASETS[name][1]
        reader = readers.setdefault(region, PlateReader(PlatesConfig(region=region)))
        right = dict.fromkeys(shifts, 0)
        plates = 0
        moving: list[str] = []
        for path, truths in images(name, 0):
            image = imread(path)
            if image is None:
                continue
            wanted = {t.plate for t in truths}
            plates += len(wanted)
            found = [wanted & {r.text for r in reader.read(image[k:, k:])} for k in shifts]
            for k, got in zip(shifts, found, strict=True):
                right[k] += len(got)
            if any(got != found[0] for got in found):
                moving.append(path.name)
        report[name] = {
            "plates": plates,
            "exact_by_shift": right,
            "exact_mean": round(statistics.mean(right.values()), 1),
            "photos_that_move": moving,
        }
        print(json.dumps({name: report[name]}, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
