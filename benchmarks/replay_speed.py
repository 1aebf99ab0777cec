"""`edge replay` speed and memory: the issue's targets for the whole program over a capture.

Targets: a 3.5-minute reference-site capture (8 channels at 2 kHz) replayed at least 20x faster
than real time on this 2-core machine; memory flat over an hour of data. Each replay runs in a
fresh process (`python -m edge replay`), so the peak RSS is that replay's alone.

    .venv/bin/python benchmarks/replay_speed.py [--minutes 3.5 60] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edge.sim import SimOptions, generate


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def replay_once(scenario: Path, out: Path) -> dict[str, float]:
    """One replay in a child process: wall time, CPU time, peak RSS, summary figures."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "edge", "replay", str(scenario), "--out", str(out), "--json"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = json.loads((out / "summary.json").read_text())
    data_s = summary["timings"]["scenario_s"]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "data_s": data_s,
        "vehicles": summary["counts"]["vehicles"],
        "records": summary["counts"]["records"],
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "x_realtime_wall": round(data_s / wall, 1),
        "peak_rss_mb": round(after.ru_maxrss / 1024, 1),
    }


def main() -> None:
    """Generate scenarios of each length, replay each, print a table and JSON."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, nargs="+", default=[3.5, 60.0])
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    print(f"machine: {_cpu_name()}, {os.cpu_count()} cores; python {platform.python_version()}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            scn = Path(tmp) / f"scn-{minutes:g}"
            generate(scn, SimOptions(seed=args.seed, duration_s=minutes * 60))
            res = replay_once(scn, Path(tmp) / f"out-{minutes:g}")
            res["minutes"] = minutes
            results.append(res)
            print(
                f"{minutes:6g} min: {res['vehicles']:5} vehicles, {res['records']:5} records, "
                f"wall {res['wall_s']:7.2f} s ({res['x_realtime_wall']:6.1f}x real time), "
                f"cpu {res['cpu_s']:7.2f} s, peak RSS {res['peak_rss_mb']:6.1f} MB"
            )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
