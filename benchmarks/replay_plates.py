"""Plates on the records of a simulated run with video: what `edge replay` writes, scored.

Simulates a run with a camera video (`edge simulate --video`), replays it (`edge replay`) in a
child process as the unit would, and matches each vehicle record to truth.jsonl by lane and
time (within 0.5 s of t0_unix_ns + t_ns). Of the plates shown (truth not null): read right,
read wrong, unread, and read right in their colour; of the covered plates: recorded null.

    .venv/bin/python benchmarks/replay_plates.py [--vehicles 100] [--seed 5] [--lanes 1]
        [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from edge.bench.scenario import Scenario
from edge.records.keys import b64url_decode

MATCH_NS = 500_000_000


def payload(jws: str) -> dict[str, Any]:
    """The JSON payload of a JWS compact string (not verified: `edge verify` does that)."""
    data: dict[str, Any] = json.loads(b64url_decode(jws.split(".")[1]))
    return data


def unix_ns(iso: str) -> int:
    return round(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1e9)


def score(scenario: Path, out: Path) -> dict[str, Any]:
    """Plate counts of the replay's vehicle records against the scenario's truth."""
    t0 = Scenario(scenario).t0_unix_ns
    truths = [json.loads(line) for line in (scenario / "truth.jsonl").open(encoding="utf-8")]
    truths = [t for t in truths if t["kind"] == "vehicle"]
    lines = (out / "records.jws").read_text().split()
    records = [r for r in map(payload, lines) if r["type"] == "vehicle"]
    s = {
        k: 0
        for k in (
            "shown",
            "right",
            "wrong",
            "unread",
            "colour_right",
            "covered",
            "covered_null",
            "unmatched",
        )
    }
    for t in truths:
        at = t0 + t["t_ns"]
        near = [
            r
            for r in records
            if r["lane"] == t["lane"] and abs(unix_ns(r["time"]) - at) <= MATCH_NS
        ]
        if not near:
            s["unmatched"] += 1
            continue
        plate = min(near, key=lambda r: abs(unix_ns(r["time"]) - at))["plate"]
        if t["plate"] is None:
            s["covered"] += 1
            s["covered_null"] += plate is None
            continue
        s["shown"] += 1
        if plate is None:
            s["unread"] += 1
        elif plate["text"] == t["plate"]:
            s["right"] += 1
            s["colour_right"] += plate["color"] == t["plate_color"]
        else:
            s["wrong"] += 1
    return s


def main() -> None:
    """Simulate, replay, score; one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--vehicles", type=int, default=100)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--lanes", default="1", help="1: every vehicle passes the camera")
    ap.add_argument("--work", type=Path, help="keep the scenario and replay here")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="replay-plates-"))
    scenario, out = work / "scenario", work / "out"
    edge = [sys.executable, "-m", "edge"]
    subprocess.run(
        [
            *edge,
            "simulate",
            "--out",
            str(scenario),
            "--vehicles",
            str(args.vehicles),
            "--seed",
            str(args.seed),
            "--lanes",
            args.lanes,
            "--video",
        ],
        check=True,
    )
    t = time.perf_counter()
    subprocess.run([*edge, "replay", str(scenario), "--out", str(out)], check=True)
    wall = time.perf_counter() - t
    summary = json.loads((out / "summary.json").read_text())
    result = {
        **score(scenario, out),
        "frames_read": summary["plates"]["frames_read"],
        "replay_s": round(wall, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
