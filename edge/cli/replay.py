"""`edge replay SCENARIO --out DIR`: run the whole program over a recorded scenario."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

from edge.bench.replay import ReplayOptions, ReplayResult, run_replay
from edge.cli.progress import terminal_progress
from edge.fusion import Observation


def add_parser(sub: Any) -> None:
    """Register the sub-command."""
    p = sub.add_parser(
        "replay",
        help="run the whole program over a recorded scenario folder",
        description="Replay a scenario folder (serial captures, videos) through the same stages "
        "as the live service and write records.jws, evidence/, summary.json and keys.jwks.",
    )
    p.add_argument("scenario", type=Path, metavar="SCENARIO")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument("--config", type=Path, metavar="SITE.yaml", help="override the scenario's site")
    p.add_argument("--realtime", action="store_true", help="pace input at recorded speed")
    p.add_argument("--broker", metavar="URL", help="also publish to this MQTT broker")
    p.add_argument(
        "--end-to-end-ack",
        action="store_true",
        help="with --broker: a record is delivered only when the back office acks its id",
    )
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="with --broker (default 120)",
    )
    p.add_argument("--key", type=Path, metavar="PEM", help="signing key (default: a throwaway key)")
    p.add_argument("--json", action="store_true", help="print summary.json instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Replay and print a readable summary."""
    opts = ReplayOptions(
        scenario=args.scenario,
        out=args.out,
        config=args.config,
        realtime=args.realtime,
        broker=args.broker,
        end_to_end_ack=args.end_to_end_ack,
        drain_timeout_s=args.drain_timeout,
        key_file=args.key,
    )
    result = run_replay(opts, progress=terminal_progress("replay"))
    if args.json:
        print(json.dumps(result.summary, ensure_ascii=False))
    else:
        print(format_report(result))
    return 0


def _time(obs: Observation, t0_unix_ns: int) -> str:
    t = dt.datetime.fromtimestamp((t0_unix_ns + obs.vehicle.t_ns) / 1e9, tz=dt.UTC)
    return t.strftime("%H:%M:%S.%f")[:-3]


def format_report(result: ReplayResult) -> str:
    """A table of the vehicles weighed and the overloads found, then the totals."""
    s = result.summary
    t0 = int(s.get("t0_unix_ns", 0))
    lines = [
        f"{'time (UTC)':12} {'lane':>4} {'km/h':>6} {'axles':>5} {'gross kg':>9} "
        f"{'class':>8}  {'plate':10} verdict"
    ]
    for obs in result.observations:
        v = obs.vehicle
        cls = next((c.code for c in v.classes if c.scheme.startswith("cn")), "")
        plate = obs.plate.text if obs.plate else "-"
        verdict = "ok"
        if obs.overloaded:
            worst = obs.decision.worst
            verdict = "OVERLOAD"
            if worst is not None:
                verdict += f" {worst.kind} +{worst.excess_kg} kg ({worst.excess_pct:.1f} %)"
        if v.quality:
            verdict += f"  [{', '.join(sorted(v.quality))}]"
        lines.append(
            f"{_time(obs, t0):12} {v.lane:>4} {v.speed_kmh:6.1f} {len(v.axles):>5} "
            f"{round(v.gross_kg):>9} {cls:>8}  {plate:10} {verdict}"
        )
    c = s["counts"]
    tm = s["timings"]
    lines.append("")
    lines.append(
        f"{c['vehicles']} vehicles weighed, {c['violations']} overloaded, "
        f"{c['records']} records signed; {tm['scenario_s']:.0f} s of data in {tm['wall_s']:.1f} s "
        f"({tm['realtime_factor']}x real time)"
    )
    for name, st in s["sources"].items():
        parser = st.get("parser", {})
        errs = {
            k: v
            for k, v in parser.items()
            if k.endswith(("errors", "lost_frames", "lost_records")) and v
        }
        if errs:
            lines.append(f"source {name}: " + ", ".join(f"{k} {v}" for k, v in errs.items()))
    return "\n".join(lines)
