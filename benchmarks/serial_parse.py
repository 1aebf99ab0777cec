"""Parse speed of the serial protocol parsers (run by hand: `python benchmarks/serial_parse.py`).

The target (issue brief): a 3.5-minute reference-site capture, 8 channels at 2 kHz in frames of
20 samples (21,000 frames, about 10 MB), must parse in well under 3 s on one core.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from edge.wim.protocols.lcs1 import Lcs1Frame
from edge.wim.protocols.lcs1_stream import Lcs1StreamParser
from edge.wim.protocols.wvr1 import Wvr1LineParser, Wvr1Record, format_wvr1


def lcs1_stream(n_frames: int) -> bytes:
    """A reference-site stream: 8 channels, 20 samples per frame, 2000 Hz."""
    rng = np.random.default_rng(0)
    return b"".join(
        Lcs1Frame(
            seq=i & 0xFFFF,
            t_us=i * 10_000,
            rate=2000,
            samples=rng.integers(-8_388_608, 8_388_607, (20, 8)).astype(np.int32),
        ).to_bytes()
        for i in range(n_frames)
    )


def bench_lcs1(data: bytes, chunk: int) -> float:
    """Seconds to parse `data` fed in reads of `chunk` bytes."""
    parser = Lcs1StreamParser()
    start = time.perf_counter()
    n = 0
    for i in range(0, len(data), chunk):
        n += len(parser.feed(data[i : i + chunk]))
    elapsed = time.perf_counter() - start
    assert n == parser.stats().frames
    return elapsed


def bench_wvr1(n_lines: int) -> float:
    """Seconds to parse `n_lines` 5-axle WVR1 lines fed in one go."""
    loads = (7050, 11020, 10890, 9010, 9150)
    data = b"".join(
        format_wvr1(
            Wvr1Record(
                i,
                1,
                1_795_241_730_250_000_000,
                72.4,
                loads,
                (3600, 1350, 7200, 1310),
                sum(loads),
                0,
            )
        )
        for i in range(n_lines)
    )
    parser = Wvr1LineParser()
    start = time.perf_counter()
    recs = parser.feed(data)
    elapsed = time.perf_counter() - start
    assert len(recs) == n_lines
    return elapsed


def main() -> None:
    """Print one line per measurement."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=21_000, help="LCS1 frames (21,000 = 3.5 min)")
    args = ap.parse_args()
    data = lcs1_stream(args.frames)
    for chunk in (len(data), 4096, 512):
        dt = bench_lcs1(data, chunk)
        print(
            f"lcs1: {args.frames} frames, {len(data) / 1e6:.1f} MB in reads of {chunk} B: "
            f"{dt:.2f} s ({len(data) / dt / 1e6:.0f} MB/s)"
        )
    n = 20_000
    dt = bench_wvr1(n)
    print(f"wvr1: {n} lines: {dt:.2f} s ({n / dt:.0f} lines/s)")


if __name__ == "__main__":
    main()
