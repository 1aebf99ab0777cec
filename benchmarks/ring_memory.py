"""Memory of one camera's frame ring: 1920x1080 frames at 25 fps pushed for a while, as before
the bound (buffer_s of every frame), with ring_fps only, and with the Camera defaults
(ring_fps 8 and ring_max_mb 210).

    .venv/bin/python benchmarks/ring_memory.py [--frames 250]

Each case runs in its own process (peak RSS from resource.getrusage never goes down) and
decodes nothing: every frame is a fresh 6.2 MB BGR array, as a camera thread would deliver.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WIDTH, HEIGHT, FPS = 1920, 1080, 25.0
CASES = ("unbounded", "ring_fps", "default")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def run_case(case: str, frames: int) -> dict[str, Any]:
    """Push `frames` fresh 1080p frames at 25 fps into the ring of `case`; its figures."""
    import numpy as np

    from edge.config.site import Camera
    from edge.service import camera_rings
    from edge.vision.frames import MB, NS_PER_S, Frame, FrameRing

    cam = Camera(url="rtsp://192.0.2.10/s", lane=1, fps=FPS)
    if case == "unbounded":  # before: buffer_s of every frame, no byte bound
        ring = FrameRing.for_camera("cam", cam.buffer_s, cam.fps)
    elif case == "ring_fps":
        ring = FrameRing.for_camera("cam", cam.buffer_s, cam.fps, keep_fps=cam.ring_fps)
    else:
        ring = camera_rings({"cam": cam})["cam"]
    base = peak_rss_mb()
    peak_bytes = 0
    t = time.perf_counter()
    for i in range(frames):
        image = np.full((HEIGHT, WIDTH, 3), i % 256, np.uint8)  # touched: really resident
        ring.push(Frame("cam", i, round(i * NS_PER_S / FPS), image))
        peak_bytes = max(peak_bytes, ring.stats().bytes)
    elapsed = time.perf_counter() - t
    s = ring.stats()
    held = 0.0 if s.oldest_t_ns is None else (s.newest_t_ns or 0) - s.oldest_t_ns
    return {
        "case": case,
        "ring_fps": ring.keep_fps,
        "ring_max_mb": None if ring.max_bytes is None else ring.max_bytes / MB,
        "stored": s.pushed,
        "skipped": s.skipped,
        "evicted": s.evicted,
        "ring_frames": s.size,
        "ring_peak_mb": round(peak_bytes / MB, 1),
        "held_s": round(held / NS_PER_S, 2),
        "rss_before_mb": round(base, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "ms_per_frame": round(elapsed / frames * 1e3, 2),  # allocation + fill + push
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=250, help="frames pushed (250 = 10 s)")
    ap.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)  # one case, in a child
    opts = ap.parse_args()
    if opts.case:
        print(json.dumps(run_case(opts.case, opts.frames)))
        return 0
    results = {}
    for case in CASES:
        out = subprocess.run(
            [sys.executable, __file__, "--case", case, "--frames", str(opts.frames)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results[case] = json.loads(out)
    print(json.dumps({"frame": f"{WIDTH}x{HEIGHT}", "fps": FPS, "frames": opts.frames, **results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
