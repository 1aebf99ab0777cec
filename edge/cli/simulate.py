"""`edge simulate --out DIR [--video]`: write a simulated scenario folder (LCS1 capture, truth,
and camera video where asked)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edge.sim import SimOptions, generate


def add_parser(sub: Any) -> None:
    """Register the sub-command."""
    p = sub.add_parser(
        "simulate",
        help="write a simulated WIM scenario (LCS1 capture, site, truth)",
        description="Simulate weigh-in-motion traffic on the reference site (or --site) and "
        "write a scenario folder (specs/bench.md). Deterministic for a given --seed.",
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="scenario folder")
    p.add_argument("--vehicles", type=int, help="vehicle count (default 20 without --minutes)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--minutes", type=float, help="scenario length (default: what vehicles need)")
    p.add_argument("--lanes", type=int, choices=(1, 2), default=2, help="lanes (default 2)")
    p.add_argument("--speed-min", type=float, default=20.0, metavar="KMH", help="default 20")
    p.add_argument("--speed-max", type=float, default=100.0, metavar="KMH", help="default 100")
    p.add_argument(
        "--dynamic", type=float, default=0.10, metavar="A", help="max a1+a2 (default 0.10)"
    )
    p.add_argument(
        "--noise-kg", type=float, default=3.0, metavar="KG", help="rms noise (default 3)"
    )
    p.add_argument(
        "--line-noise",
        type=float,
        default=0.0005,
        metavar="P",
        help="probability per frame of line damage (default 0.0005)",
    )
    p.add_argument(
        "--overload-fraction",
        type=float,
        default=0.10,
        metavar="F",
        help="share of trucks overloaded (default 0.10)",
    )
    p.add_argument(
        "--accel", type=float, default=0.0, metavar="MPS2", help="max |acceleration| (default 0)"
    )
    p.add_argument("--site", type=Path, metavar="SITE.yaml", help="default: the reference site")
    p.add_argument(
        "--video",
        action="store_true",
        help="also write <camera>.mp4 and <camera>.frames.csv per site camera, with plates in "
        "truth.jsonl",
    )
    p.add_argument(
        "--video-size", type=_size, default=(1280, 720), metavar="WxH", help="default 1280x720"
    )
    p.add_argument("--fps", type=float, default=10.0, help="video frame rate (default 10)")
    p.add_argument(
        "--covered-plates",
        type=float,
        default=0.05,
        metavar="F",
        help="share of plates covered, null in truth (default 0.05)",
    )
    p.set_defaults(func=run)


def _size(text: str) -> tuple[int, int]:
    """'1280x720' -> (1280, 720)."""
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit():
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x720, got {text!r}")
    return int(w), int(h)


def _progress(fraction: float) -> None:
    sys.stderr.write(f"\rsimulating: {fraction * 100:5.1f} %")
    if fraction >= 1.0:
        sys.stderr.write("\n")
    sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    """Generate the folder and print a one-line summary; option errors are ConfigError."""
    options = SimOptions(
        vehicles=args.vehicles,
        seed=args.seed,
        duration_s=None if args.minutes is None else args.minutes * 60.0,
        lanes=args.lanes,
        speed_kmh=(args.speed_min, args.speed_max),
        dynamic_max=args.dynamic,
        noise_kg=args.noise_kg,
        line_noise=args.line_noise,
        overload_fraction=args.overload_fraction,
        accel_max_mps2=args.accel,
        site=args.site,
        include_video=args.video,
        video_size=args.video_size,
        video_fps=args.fps,
        covered_plates=args.covered_plates,
    )
    result = generate(args.out, options, progress=_progress if sys.stderr.isatty() else None)
    print(
        f"{args.out}: {len(result.vehicles)} vehicles ({result.overloaded} overloaded) on "
        f"{options.lanes} lane(s), {result.duration_s:.1f} s, {result.frames} frames "
        f"({result.frames_damaged} damaged, {result.garbage_bursts} garbage bursts), "
        f"{result.bytes / 1e6:.1f} MB, seed {options.seed}"
        + (", with video" if options.include_video else "")
    )
    return 0
