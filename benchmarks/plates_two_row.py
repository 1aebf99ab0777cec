"""Two-row truck plates in real photos: rendered, worn and pasted where a truck's rear would be.

No public labelled set holds the two-row yellow rear plates of Chinese trucks and trailers
(GA 36 440 x 220 mm), so this benchmark draws them (edge/sim/plates.py), wears them (a
perspective of up to 6 % of the plate's size at each corner, up to five dirt spots, darker or
brighter light, blur, JPEG) and pastes one into each of a series of real CCPD and EasyPR
photos, 4.5-11 % of the photo's height. It measures the pipeline around the recognisers, not
the reading of real worn paint: the glyphs are a font's, not the plate typeface, and the
figures move with the font: the first installed of edge/sim/plates.py's CJK fonts, which each
line names (Noto Sans CJK read 77 truck plates of 100 where WenQuanYi Zen Hei, the one
scripts/setup.sh installs, read 70; benchmarks/README.md "Plates").

A plate counts when its text is read anywhere in the photo; reads that are neither it nor a
labelled plate of the photo are counted as other reads (a misread pasted plate among them).
Pipelines, in the same run on the same frames: `ours` (the default PlateReader, region cn)
and `hlpr3+ours` (HyperLPR3's plate detector, which classes two-row plates, feeding the same
recognisers).

    .venv/bin/python benchmarks/plates_two_row.py [--count 100] [--seed 1] [--kinds truck,trailer]
        [--pipelines ours,hlpr3+ours] [--grey]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from plates import HYPERLPR, images, imread  # benchmarks/ is on sys.path when run as a script

from edge.sim.plate_text import DIGITS, standard_text
from edge.sim.plates import CJK_FONTS, find_font, render_plate
from edge.vision.plates import PlateReader, PlatesConfig

Image = np.ndarray


def plate_text(kind: str, rng: np.random.Generator) -> str:
    """A truck's plate (皖A12345) or a trailer's (皖A1234挂)."""
    text = standard_text(rng)
    if kind == "trailer":
        return text[:2] + "".join(str(d) for d in rng.choice(list(DIGITS), 4)) + "挂"
    return text


def worn(plate: Image, height: int, rng: np.random.Generator) -> tuple[Image, Image]:
    """The plate `height` px tall, seen at a slant, dirty and in other light; and its mask."""
    ph, pw = plate.shape[:2]
    width = pw * height // ph
    size = (int(width * 1.2), int(height * 1.4))
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    corners += rng.uniform(-0.06, 0.06, (4, 2)) * [width, height] + [0.1 * width, 0.2 * height]
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    m = cv2.getPerspectiveTransform(src, corners.astype(np.float32))
    out = cv2.warpPerspective(plate, m, size, flags=cv2.INTER_AREA).astype(np.float32)
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), m, size)
    yy, xx = np.ogrid[: size[1], : size[0]]
    for _ in range(int(rng.integers(0, 6))):
        cx, cy, r = rng.uniform(0, size[0]), rng.uniform(0, size[1]), rng.uniform(2, height / 4)
        out[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] *= rng.uniform(0.5, 0.85)
    out *= rng.uniform(0.5, 1.1)
    return np.clip(out, 0, 255).astype(np.uint8), mask


def frames(
    kind: str, count: int, seed: int, grey: bool = False
) -> Iterator[tuple[Image, str, set[str]]]:
    """(photo with a pasted plate, the plate's text, the photo's own labelled plates)."""
    rng = np.random.default_rng(seed)
    photos = [
        (image, {t.plate for t in truths})
        for name in ("ccpd-scenes", "easypr")
        for path, truths in images(name, 0)
        if (image := imread(path)) is not None
    ]
    made = 0
    while made < count:
        photo, own = photos[int(rng.integers(len(photos)))]
        text = plate_text(kind, rng)
        frame = photo.copy()
        h_img, w_img = frame.shape[:2]
        height = max(16, int(rng.uniform(0.045, 0.11) * h_img))
        plate, mask = worn(render_plate(text, "yellow", two_row=True), height, rng)
        ph, pw = plate.shape[:2]
        if pw >= w_img or ph >= h_img * 0.7:
            continue
        x, y = int(rng.uniform(0, w_img - pw)), int(rng.uniform(h_img * 0.3, h_img - ph))
        region = frame[y : y + ph, x : x + pw]
        region[mask > 127] = plate[mask > 127]
        k = int(rng.choice([1, 3, 5]))
        if k > 1:
            frame[y : y + ph, x : x + pw] = cv2.GaussianBlur(region, (k, k), 0)
        quality = int(rng.uniform(40, 90))
        jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
        frame = np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR))
        if grey:  # as an infrared camera at night gives it
            frame = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        yield frame, text, own
        made += 1


def main() -> None:
    """Read every frame with every pipeline; one JSON line per pipeline and kind."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--count", type=int, default=100, help="photos per kind")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kinds", default="truck,trailer")
    ap.add_argument("--pipelines", default="ours,hlpr3+ours")
    ap.add_argument("--grey", action="store_true", help="frames without colour (infrared)")
    args = ap.parse_args()
    readers = {"ours": PlateReader(PlatesConfig(threads=1))}
    if "hlpr3+ours" in args.pipelines and HYPERLPR.exists():
        yolo = {"type": "yolo-plate", "path": HYPERLPR, "input_size": 320}
        cfg = PlatesConfig.model_validate({"threads": 1, "detector": yolo})
        readers["hlpr3+ours"] = PlateReader(cfg)
    chosen = {p: r for p, r in readers.items() if p in args.pipelines.split(",")}
    font = Path(find_font(CJK_FONTS)[0]).name  # the one render_plate draws with
    for kind in args.kinds.split(","):
        stats = {p: {"read": 0, "other": 0, "s": 0.0} for p in chosen}
        for frame, text, own in frames(kind, args.count, args.seed, args.grey):
            for pipe, reader in chosen.items():
                t0 = time.perf_counter()
                got = {r.text for r in reader.read(frame)}
                stats[pipe]["s"] += time.perf_counter() - t0
                stats[pipe]["read"] += text in got
                stats[pipe]["other"] += len(got - own - {text})
        for pipe, s in stats.items():
            line = {
                "pipeline": pipe,
                "kind": kind + (" grey" if args.grey else ""),
                "exact": f"{s['read']}/{args.count}",
                "other_reads": s["other"],
                "ms_frame": round(1000 * s["s"] / args.count, 1),
                "font": font,
            }
            print(json.dumps(line, ensure_ascii=False))


if __name__ == "__main__":
    main()
