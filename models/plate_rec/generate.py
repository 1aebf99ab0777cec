"""Pre-render synthetic plate shards for training (rendering is slower than the model's step).

    .venv/bin/python -m models.plate_rec.generate --out /tmp/plates --count 90000 --seed 1

Writes `<out>/syn<seed>.npy` (N x 32 x 128 x 3 uint8, BGR, already degraded) and
`<out>/syn<seed>.txt` (one plate text per line). Run one process per core with different seeds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from models.plate_rec.data import HEIGHT, WIDTH, stream


def main() -> None:
    """Render --count samples with --seed into --out."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--count", type=int, default=90000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    samples = stream(args.seed, [], real_share=0.0)
    images = np.zeros((args.count, HEIGHT, WIDTH, 3), np.uint8)
    texts = []
    for i in range(args.count):
        img, text = next(samples)
        shrink = img.shape[1] > WIDTH
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        images[i] = cv2.resize(img, (WIDTH, HEIGHT), interpolation=interpolation)
        texts.append(text)
    np.save(args.out / f"syn{args.seed}.npy", images)
    (args.out / f"syn{args.seed}.txt").write_text("\n".join(texts), encoding="utf-8")


if __name__ == "__main__":
    main()
