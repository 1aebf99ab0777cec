"""Calibration from test-truck runs of known static weight.

Inputs: a scenario (its LCS1 capture) recorded while vehicles of known static axle loads crossed
the scale, and the list of those vehicles: a `runs.yaml` written by the technician, or the
truth.jsonl of a simulated scenario. The capture is weighed with the calibration in force, the
runs are matched to the measured vehicles by lane and time, and then:

1. per lane and per row (the row's left and right channels together): factor =
   sum of known axle loads / sum of that row's measured axle loads. The known loads are per axle,
   not per wheel, so left and right are not separable: both channels of a row get the factor
   (their `kg_per_count` is multiplied by it).
2. after the row factors, per speed band (all lanes): factor = median of known / measured gross.
   Bands with fewer than `min_per_band` vehicles are not emitted (factor 1 there).
3. zeros: each channel's zero is moved to where zero tracking found it at the end of the run.

The result is a complete `calibration:` section (`Calibration` model) ready to paste into the
site configuration, plus the numbers behind it. Few runs give loose factors: the result says how
many runs were used and the spread of the gross error before and after.

runs.yaml:

    runs:
      - {lane: 1, t_s: 12.4, axles_kg: [6900, 11200, 11300]}   # t_s: first axle at row A
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import Field

from drivers.scap import ScapReader
from edge.bench.scenario import Scenario
from edge.config.base import ConfigModel
from edge.config.loader import load_model
from edge.config.site import Calibration, ChannelCalibration, SiteConfig, SpeedFactor
from edge.errors import CaptureError, ConfigError
from edge.wim.protocols.lcs1_stream import Lcs1StreamParser
from edge.wim.vehicles import MeasuredVehicle
from edge.wim.weigher import Lcs1Weigher, speed_factor

log = logging.getLogger(__name__)

MATCH_S = 1.0  # a run matches a measured vehicle on its lane within this time


class KnownRun(ConfigModel):
    """One crossing of a vehicle of known static axle loads."""

    lane: int = Field(ge=1, le=16, description="lane crossed")
    t_s: float = Field(ge=0, description="scenario time (s since t0) of the first axle at row A")
    axles_kg: list[float] = Field(min_length=1, max_length=13, description="static axle loads")


class KnownRuns(ConfigModel):
    """runs.yaml: the test-truck runs of a calibration session."""

    runs: list[KnownRun] = Field(min_length=1, description="the runs, any order")


@dataclass(frozen=True)
class RunResult:
    """A known run matched to its measurement (row loads before any new factor)."""

    run: KnownRun
    vehicle: MeasuredVehicle
    t_ns: int


@dataclass(frozen=True)
class CalibrationResult:
    """The new calibration and the evidence for it."""

    calibration: Calibration
    row_factors: dict[tuple[int, str], float]  # (lane, "A"|"B") -> factor
    speed_factors: tuple[SpeedFactor, ...]
    runs: int
    matched: int
    gross_error_pct_before: tuple[float, float]  # (mean, std) with the calibration in force
    gross_error_pct_after: tuple[float, float]  # (mean, std) with the new factors, same runs


def load_known(path: Path) -> list[KnownRun]:
    """Read runs.yaml, or the vehicle lines of a truth.jsonl (ConfigError names the line)."""
    if path.suffix == ".jsonl":
        return list(_truth_runs(path))
    return load_model(path, KnownRuns).runs


def _truth_runs(path: Path) -> Iterator[KnownRun]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if obj.get("kind") != "vehicle":
                continue
            yield KnownRun(
                lane=obj["lane"],
                t_s=obj["t_ns"] / 1e9,
                axles_kg=[a["load_kg"] for a in obj["axles"]],
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}:{no}: not a truth vehicle line: {exc}") from None


@dataclass(frozen=True)
class Measurement:
    """A capture weighed with the calibration in force."""

    vehicles: list[tuple[MeasuredVehicle, int]]  # (measurement, t_ns)
    zeros: dict[int, float]  # source channel -> zero in counts at the end of the capture


def measure(site: SiteConfig, scap: Path, source: str) -> Measurement:
    """Weigh a capture with the calibration in force (no speed-band factors applied)."""
    weigher = Lcs1Weigher(site, source)
    parser = Lcs1StreamParser()
    out: list[MeasuredVehicle] = []
    last = 0
    with ScapReader(scap) as reader:
        if reader.header.protocol != "lcs1":
            raise CaptureError(f"{scap}: protocol {reader.header.protocol!r}, expected 'lcs1'")
        for chunk in reader:
            last = chunk.t_ns
            for frame in parser.feed(chunk.data):
                out.extend(weigher.feed_measured(frame, chunk.t_ns))
    for frame in parser.flush():
        out.extend(weigher.feed_measured(frame, last))
    out.extend(weigher.flush_measured())
    return Measurement(
        [(m, weigher.to_scenario_ns(m.t_index)) for m in out], weigher.channel_zeros()
    )


def match_runs(
    runs: Iterable[KnownRun], measured: list[tuple[MeasuredVehicle, int]]
) -> list[RunResult]:
    """Pair each run with the nearest measured vehicle on its lane with the same axle count."""
    used: set[int] = set()
    out: list[RunResult] = []
    for run in sorted(runs, key=lambda r: r.t_s):
        best, best_dt = None, MATCH_S
        for i, (m, t_ns) in enumerate(measured):
            dt = abs(t_ns / 1e9 - run.t_s)
            ok = m.lane == run.lane and len(m.axles) == len(run.axles_kg) and i not in used
            if ok and dt <= best_dt:
                best, best_dt = i, dt
        if best is None:
            log.warning("run at %.2f s on lane %d: no measured vehicle matches", run.t_s, run.lane)
            continue
        used.add(best)
        out.append(RunResult(run, measured[best][0], measured[best][1]))
    return out


def row_factors(results: list[RunResult]) -> dict[tuple[int, str], float]:
    """Per lane and row: sum of known axle loads / sum of the row's measured axle loads."""
    sums: dict[tuple[int, str], list[float]] = {}
    for r in results:
        for known, ax in zip(r.run.axles_kg, r.vehicle.axles, strict=True):
            for row, kg in (("A", ax.row_a_kg), ("B", ax.row_b_kg)):
                if kg is not None and kg > 0:
                    acc = sums.setdefault((r.vehicle.lane, row), [0.0, 0.0])
                    acc[0] += known
                    acc[1] += kg
    return {key: k / m for key, (k, m) in sums.items() if m > 0}


def corrected_gross(r: RunResult, factors: dict[tuple[int, str], float]) -> float:
    """Gross of a measured vehicle with new row factors (mean of the rows, as the weigher)."""
    total = 0.0
    lane = r.vehicle.lane
    for ax in r.vehicle.axles:
        rows = [
            kg * factors.get((lane, row), 1.0)
            for row, kg in (("A", ax.row_a_kg), ("B", ax.row_b_kg))
            if kg is not None
        ]
        total += float(np.mean(rows)) if rows else 0.0
    return total


def speed_bands(
    results: list[RunResult],
    factors: dict[tuple[int, str], float],
    band_kmh: float = 20.0,
    min_per_band: int = 3,
) -> list[SpeedFactor]:
    """Median known/measured gross per speed band of width `band_kmh`, after row factors."""
    by_band: dict[int, list[float]] = {}
    for r in results:
        band = int(r.vehicle.speed_mps * 3.6 // band_kmh)
        gross = corrected_gross(r, factors)
        if gross > 0:
            by_band.setdefault(band, []).append(sum(r.run.axles_kg) / gross)
    out: list[SpeedFactor] = []
    for band, ratios in sorted(by_band.items()):
        if len(ratios) < min_per_band:
            continue
        f = float(np.clip(np.median(ratios), 0.51, 1.49))
        out.append(
            SpeedFactor(min_kmh=band * band_kmh, max_kmh=(band + 1) * band_kmh, factor=round(f, 4))
        )
    return out


def _spread(values: list[float]) -> tuple[float, float]:
    return (float(np.mean(values)), float(np.std(values))) if values else (0.0, 0.0)


def calibrate(
    site: SiteConfig,
    scenario: Path,
    runs: list[KnownRun],
    *,
    source: str | None = None,
    new_id: str | None = None,
    band_kmh: float = 20.0,
    min_per_band: int = 3,
) -> CalibrationResult:
    """Compute a new calibration from a scenario of known runs (see the module docstring)."""
    scn = Scenario(scenario)
    if source is None:
        lcs1 = [name for name, s in site.serial.items() if s.protocol == "lcs1"]
        if not lcs1:
            raise ConfigError("calibrate: the site has no LCS1 serial source")
        source = lcs1[0]
    if source not in scn.file.serial:
        raise CaptureError(f"{scenario}: no capture for serial source {source!r}")
    measured = measure(site, scn.serial_path(source), source)
    results = match_runs(runs, measured.vehicles)
    if not results:
        raise CaptureError(f"{scenario}: none of the {len(runs)} known runs was found")
    factors = row_factors(results)
    bands = speed_bands(results, factors, band_kmh, min_per_band)
    before = [
        100 * (corrected_gross(r, {}) * _band_of(site.calibration, r) / sum(r.run.axles_kg) - 1)
        for r in results
    ]
    new_cal = _new_calibration(
        site, source, factors=factors, bands=bands, zeros=measured.zeros, new_id=new_id
    )
    after = [
        100 * (corrected_gross(r, factors) * _band_of(new_cal, r) / sum(r.run.axles_kg) - 1)
        for r in results
    ]
    return CalibrationResult(
        calibration=new_cal,
        row_factors=factors,
        speed_factors=tuple(bands),
        runs=len(runs),
        matched=len(results),
        gross_error_pct_before=_spread(before),
        gross_error_pct_after=_spread(after),
    )


def _band_of(cal: Calibration, r: RunResult) -> float:
    return speed_factor(cal, r.vehicle.lane, r.vehicle.speed_mps * 3.6)


def _new_calibration(
    site: SiteConfig,
    source: str,
    *,
    factors: dict[tuple[int, str], float],
    bands: list[SpeedFactor],
    zeros: dict[int, float],
    new_id: str | None,
) -> Calibration:
    old = site.calibration.channels.get(source, [])
    per_channel = {i: 1.0 for i in range(len(old))}
    for lane in site.wim.lanes:
        if lane.source != source or lane.channels is None:
            continue
        ch = lane.channels
        for row, chans in (("A", (ch.a_left, ch.a_right)), ("B", (ch.b_left, ch.b_right))):
            for c in chans:
                per_channel[c] = factors.get((lane.lane, row), 1.0)
    channels = [
        ChannelCalibration(
            zero=round(zeros.get(i, c.zero), 1),
            kg_per_count=round(c.kg_per_count * per_channel[i], 7),
        )
        for i, c in enumerate(old)
    ]
    return Calibration(
        id=new_id or f"{site.calibration.id}-recal",
        channels={**site.calibration.channels, source: channels},
        speed_factors=bands,
    )
