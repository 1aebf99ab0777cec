"""`edge calibrate SCENARIO --known RUNS --out calib.yaml`: factors from test-truck runs.

Weighs the scenario's LCS1 capture with the site's calibration in force, matches the known runs,
prints the factors and writes a `calibration:` section ready to paste into the site file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from edge.bench.scenario import Scenario
from edge.config.site import load_site
from edge.errors import ConfigError
from edge.wim.calibration import CalibrationResult, calibrate, load_known


def add_parser(sub: Any) -> None:
    """Register the sub-command."""
    p = sub.add_parser(
        "calibrate",
        help="compute calibration factors from runs of vehicles of known weight",
        description="Weigh a scenario recorded during test-truck runs, compare with the known "
        "static axle loads and write a calibration section (per lane and row factors, speed "
        "bands, zeros).",
    )
    p.add_argument("scenario", type=Path, metavar="SCENARIO", help="scenario folder")
    p.add_argument(
        "--known",
        type=Path,
        required=True,
        metavar="RUNS",
        help="runs.yaml ({runs: [{lane, t_s, axles_kg}]}) or a truth.jsonl",
    )
    p.add_argument(
        "--config", type=Path, metavar="SITE.yaml", help="default: the scenario's site file"
    )
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="calibration YAML")
    p.add_argument("--source", help="LCS1 serial source (default: the site's first)")
    p.add_argument("--id", dest="cal_id", help="new calibration id (default: <old id>-recal)")
    p.add_argument("--band-kmh", type=float, default=20.0, help="speed band width (default 20)")
    p.add_argument("--min-per-band", type=int, default=3, help="runs needed per band (default 3)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run)


def _site_path(args: argparse.Namespace) -> Path:
    if args.config is not None:
        return Path(args.config)
    path = Scenario(args.scenario).site_path()
    if path is None:
        raise ConfigError(f"{args.scenario}: scenario names no site; pass --config SITE.yaml")
    return path


def _section(result: CalibrationResult) -> dict[str, Any]:
    cal = result.calibration.model_dump(mode="json", exclude_none=True)
    return {"calibration": cal}


def _summary(result: CalibrationResult, out: Path) -> dict[str, Any]:
    return {
        "out": str(out),
        "id": result.calibration.id,
        "runs": result.runs,
        "matched": result.matched,
        "row_factors": {
            f"lane{ln}_{row}": round(f, 4) for (ln, row), f in sorted(result.row_factors.items())
        },
        "speed_factors": [
            {"min_kmh": b.min_kmh, "max_kmh": b.max_kmh, "factor": b.factor}
            for b in result.speed_factors
        ],
        "gross_error_pct_before": [round(x, 2) for x in result.gross_error_pct_before],
        "gross_error_pct_after": [round(x, 2) for x in result.gross_error_pct_after],
    }


def run(args: argparse.Namespace) -> int:
    """Compute, print and write the calibration."""
    site = load_site(_site_path(args))
    runs = load_known(args.known)
    result = calibrate(
        site,
        args.scenario,
        runs,
        source=args.source,
        new_id=args.cal_id,
        band_kmh=args.band_kmh,
        min_per_band=args.min_per_band,
    )
    text = "# edge calibrate: paste into the site configuration\n" + yaml.safe_dump(
        _section(result), sort_keys=False
    )
    try:
        args.out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{args.out}: cannot write: {exc}") from None
    summary = _summary(result, args.out)
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{result.matched} of {result.runs} known runs matched")
    for key, f in summary["row_factors"].items():
        print(f"  {key}: factor {f:.4f}")
    for b in summary["speed_factors"]:
        print(f"  {b['min_kmh']:.0f}-{b['max_kmh']:.0f} km/h: factor {b['factor']:.4f}")
    mb, sb = summary["gross_error_pct_before"]
    ma, sa = summary["gross_error_pct_after"]
    print(
        f"gross error before: mean {mb:+.2f} % sd {sb:.2f} %; after: mean {ma:+.2f} % sd {sa:.2f} %"
    )
    print(f"wrote {args.out}")
    return 0
