"""From wheel pulses to vehicles, per lane: axles, speed, spacings, loads and quality flags.

A lane has four platforms: rows A and B (row_spacing_m apart along travel), each split into a
left and a right wheel track. Per lane, incrementally:

1. left and right pulses of one row with overlapping timing form a *row axle*;
2. each row A axle is matched to the row B axle that follows it after row_spacing / v; the
   first prediction of v comes from the pulse width (the 50 % width is Lp / v), later axles of
   the same vehicle use the previous axle's A -> B time, which is far more precise;
3. axles are cut into vehicles where the gap after an axle exceeds max_axle_spacing_m or
   max_axle_gap_s;
4. a vehicle's speed is row_spacing over the mean A -> B time of its axles; spacings use the
   mean of the row A and row B intervals; wheel loads are the mean of the two rows'
   `area * v / Lp`, which halves much of the dynamic (bounce and hop) error.

Times are fractional sample indices on the continuous sample line of `edge.wim.timebase`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from edge.wim.signal import Pulse

log = logging.getLogger(__name__)

# Roles of a lane's four channels, in the order of LaneChannels.as_tuple().
A_LEFT, A_RIGHT, B_LEFT, B_RIGHT = range(4)

SPEED_CHANGE_FRACTION = 0.06  # axle speeds differing more than this: the vehicle accelerated
OFF_SCALE_SHARE = 0.25  # one side carrying less than this share of the axle: wheel off a track


@dataclass(frozen=True)
class LaneGeometry:
    """What the lane assembler needs of the site, in SI units, plus the sample rate."""

    lane: int
    rate: int
    row_spacing_m: float
    platform_length_m: float
    max_axle_spacing_m: float
    max_axle_gap_s: float
    min_speed_kmh: float
    max_speed_kmh: float


@dataclass(frozen=True)
class RowAxle:
    """One axle as one row saw it: its left and right pulses (one may be missing)."""

    left: Pulse | None
    right: Pulse | None

    def pulses(self) -> list[Pulse]:
        """The pulses present."""
        return [p for p in (self.left, self.right) if p is not None]

    @property
    def center(self) -> float:
        """Mean centre time of the pulses."""
        return float(np.mean([p.center for p in self.pulses()]))

    @property
    def width(self) -> float:
        """Mean 50 % width (samples)."""
        return float(np.mean([p.width for p in self.pulses()]))

    @property
    def lead(self) -> float:
        """Mean leading-edge time."""
        return float(np.mean([p.lead for p in self.pulses()]))

    @property
    def end(self) -> float:
        """Latest 50 % fall of the pulses."""
        return max(p.fall for p in self.pulses())


@dataclass(frozen=True)
class AxleMatch:
    """One axle seen by row A, row B or both."""

    a: RowAxle | None
    b: RowAxle | None
    t_a: float  # row A centre time (estimated from row B for a B-only axle)


@dataclass(frozen=True)
class MeasuredAxle:
    """An axle's measurement before speed-band factors; per row loads for calibration."""

    load_kg: float
    left_kg: float
    right_kg: float
    spacing_m: float
    speed_mps: float
    row_a_kg: float | None  # axle load measured by row A alone (None when row A missed it)
    row_b_kg: float | None


@dataclass(frozen=True)
class MeasuredVehicle:
    """A vehicle as measured on one lane, before speed factors and classification."""

    lane: int
    t_index: float  # leading tyre edge of the first axle at row A's platform start
    speed_mps: float
    axles: tuple[MeasuredAxle, ...]
    quality: frozenset[str]


class LaneAssembler:
    """Turns one lane's pulses into vehicles, incrementally, with bounded state."""

    def __init__(self, geom: LaneGeometry) -> None:
        self.g = geom
        self._rows: tuple[list[Pulse], list[Pulse], list[Pulse], list[Pulse]] = ([], [], [], [])
        self._a_axles: list[RowAxle] = []
        self._b_axles: list[RowAxle] = []
        self._current: list[AxleMatch] = []
        self._last_match: tuple[float, float] | None = None  # (t_a, A->B samples)
        self.rejected_axles = 0
        self.unmatched = 0
        rate = geom.rate
        self._dt_min = geom.row_spacing_m / (geom.max_speed_kmh / 3.6) * rate * 0.8
        self._dt_max = geom.row_spacing_m / max(geom.min_speed_kmh / 3.6, 0.5) * rate * 1.2

    def add(self, role: int, pulse: Pulse) -> None:
        """A finished pulse of this lane's channel with the given role (A_LEFT ... B_RIGHT)."""
        self._rows[role].append(pulse)

    def advance(self, now: float) -> list[MeasuredVehicle]:
        """All pulses ending before `now` are known; return vehicles that are complete."""
        self._pair_rows(now)
        matched = self._match(now)
        out: list[MeasuredVehicle] = []
        for m in matched:
            out.extend(self._append(m))
        out.extend(self._close_if_done(now))
        return out

    def flush(self) -> list[MeasuredVehicle]:
        """End of input: resolve everything pending and close the last vehicle."""
        return self.advance(float("inf")) + self._close()

    # -- step 1: left + right of one row --------------------------------------------------------

    def _pair_rows(self, now: float) -> None:
        for left_role, right_role, dest in (
            (A_LEFT, A_RIGHT, self._a_axles),
            (B_LEFT, B_RIGHT, self._b_axles),
        ):
            left, right = self._rows[left_role], self._rows[right_role]
            left.sort(key=lambda p: p.center)
            right.sort(key=lambda p: p.center)
            while left or right:
                first_left = bool(left) and (not right or left[0].center <= right[0].center)
                p = left[0] if first_left else right[0]
                others = right if first_left else left
                tol = 0.6 * p.width + 2.0
                if now < p.fall + tol + p.width + 8:
                    break  # the other side's pulse may not be finished yet
                (left if first_left else right).pop(0)
                q = others[0] if others and abs(others[0].center - p.center) <= tol else None
                if q is not None:
                    others.pop(0)
                axle = RowAxle(p, q) if first_left else RowAxle(q, p)
                dest.append(axle)

    # -- step 2: row A -> row B ----------------------------------------------------------------

    def _windows(self, a: RowAxle) -> list[tuple[float, float]]:
        """Expected A->B times (samples) with relative tolerance, most precise first.

        The previous axle's A->B time is precise when it belongs to the same vehicle; if the
        axle is the first of the next vehicle, the width-based window takes over.
        """
        out: list[tuple[float, float]] = []
        if self._last_match is not None:
            t_last, dt_last = self._last_match
            v_last = self.g.row_spacing_m / dt_last  # metres per sample
            if a.center - t_last < self.g.max_axle_spacing_m / v_last:
                out.append((dt_last, 0.15))
        v = self.g.platform_length_m / max(a.width, 1.0)
        dt = min(max(self.g.row_spacing_m / v, self._dt_min), self._dt_max)
        out.append((dt, 0.35))
        return out

    def _match(self, now: float) -> list[AxleMatch]:
        out: list[AxleMatch] = []
        while self._a_axles:
            a = self._a_axles[0]
            windows = self._windows(a)
            hi = max(a.center + dt * (1 + tol) for dt, tol in windows)
            if now < hi + 2.5 * a.width + 20:
                break
            self._a_axles.pop(0)
            i = self._best_b(a, windows)
            if i is None:
                self.unmatched += 1
                out.append(AxleMatch(a, None, a.center))
                continue
            for orphan in self._b_axles[:i]:
                out.append(self._b_only(orphan))
            b = self._b_axles[i]
            del self._b_axles[: i + 1]
            self._last_match = (a.center, b.center - a.center)
            out.append(AxleMatch(a, b, a.center))
        # Row B axles that no pending or future row A axle can claim.
        while self._b_axles and not self._a_axles:
            b = self._b_axles[0]
            early_a = [p for r in (A_LEFT, A_RIGHT) for p in self._rows[r] if p.center < b.center]
            if early_a or now < b.center + 2.5 * b.width + 20:
                break
            self._b_axles.pop(0)
            out.append(self._b_only(b))
        return out

    def _best_b(self, a: RowAxle, windows: list[tuple[float, float]]) -> int | None:
        """Index in the row B queue of a's partner: nearest the first window that has one."""
        for dt, tol in windows:
            cands = [
                (abs(b.center - a.center - dt), i)
                for i, b in enumerate(self._b_axles)
                if abs(b.center - a.center - dt) <= dt * tol and 0.6 < b.width / a.width < 1.6
            ]
            if cands:
                return min(cands)[1]
        return None

    def _b_only(self, b: RowAxle) -> AxleMatch:
        self.unmatched += 1
        dt = (
            self._last_match[1]
            if self._last_match
            else self.g.row_spacing_m / (self.g.platform_length_m / max(b.width, 1.0))
        )
        return AxleMatch(None, b, b.center - dt)

    # -- step 3: vehicles ----------------------------------------------------------------------

    def _gap_samples(self) -> float:
        """Largest in-vehicle gap after the current vehicle's last axle, in samples."""
        g = self.g
        v = self._speed_estimate()
        by_space = g.max_axle_spacing_m / v * g.rate if v > 0 else float("inf")
        return min(g.max_axle_gap_s * g.rate, by_space)

    def _speed_estimate(self) -> float:
        """Speed of the current vehicle in m/s from its matched axles (0 if none)."""
        dts = [m.b.center - m.a.center for m in self._current if m.a and m.b]
        return self.g.row_spacing_m * self.g.rate / float(np.mean(dts)) if dts else 0.0

    def _append(self, m: AxleMatch) -> list[MeasuredVehicle]:
        out: list[MeasuredVehicle] = []
        if self._current and m.t_a - self._current[-1].t_a > self._gap_samples():
            out.extend(self._close())
        self._current.append(m)
        self._current.sort(key=lambda x: x.t_a)
        return out

    def _close_if_done(self, now: float) -> list[MeasuredVehicle]:
        if not self._current:
            return []
        last = self._current[-1].t_a
        horizon = last + self._gap_samples()
        pending = [a.center for a in self._a_axles] + [p.center for p in self._rows[A_LEFT]]
        pending += [p.center for p in self._rows[A_RIGHT]]
        if any(t <= horizon for t in pending):
            return []
        v = self._speed_estimate() or self.g.min_speed_kmh / 3.6
        wait = horizon + self.g.row_spacing_m / v * self.g.rate * 1.4 + 0.1 * self.g.rate
        return self._close() if now > wait else []

    def _close(self) -> list[MeasuredVehicle]:
        axles, self._current = self._current, []
        if not axles:
            return []
        vehicle = build_vehicle(self.g, axles)
        if vehicle is None:
            self.rejected_axles += len(axles)
            return []
        return [vehicle]


def _side_load(rows: list[Pulse | None], v_mps: float, g: LaneGeometry) -> float | None:
    """Mean over rows of a wheel's `area * v / Lp` (kg); None when no row saw the wheel."""
    areas = [p.area for p in rows if p is not None]
    if not areas:
        return None
    return float(np.mean(areas)) / g.rate * v_mps / g.platform_length_m


def _row_load(r: RowAxle | None, v_mps: float, g: LaneGeometry) -> float | None:
    if r is None:
        return None
    return sum(p.area for p in r.pulses()) / g.rate * v_mps / g.platform_length_m


def _axle_speeds(g: LaneGeometry, axles: list[AxleMatch]) -> tuple[float, list[float]]:
    """(vehicle speed m/s, per-axle speed m/s); axles seen by one row take the vehicle's."""
    dts = [m.b.center - m.a.center for m in axles if m.a and m.b]
    if not dts:
        return _width_speed(g, axles)
    v = g.row_spacing_m * g.rate / float(np.mean(dts))
    per = [
        g.row_spacing_m * g.rate / (m.b.center - m.a.center) if m.a and m.b else v for m in axles
    ]
    return v, per


def _width_speed(g: LaneGeometry, axles: list[AxleMatch]) -> tuple[float, list[float]]:
    """Speed from pulse widths (Lp / v) when no axle crossed both rows (a row is dead).

    Only for at least two axles each seen on both wheel tracks: single pulses are noise or
    fragments, not a vehicle. Less precise than A -> B timing; the vehicle is flagged.
    """
    rows = [m.a or m.b for m in axles]
    if len(rows) < 2 or any(r is None or r.left is None or r.right is None for r in rows):
        return 0.0, []
    widths = [r.width for r in rows if r is not None]
    v = g.platform_length_m * g.rate / float(np.median(widths))
    return v, [v] * len(axles)


def _quality(g: LaneGeometry, axles: list[AxleMatch], v: float, per: list[float]) -> set[str]:
    q: set[str] = set()
    pulses = [p for m in axles for r in (m.a, m.b) if r is not None for p in r.pulses()]
    if any(p.lost for p in pulses):
        q.add("lost_frames")
    if any(p.overrange for p in pulses):
        q.add("overrange")
    if any(m.a is None or m.b is None for m in axles):
        q.add("row_mismatch")
    if len(per) > 1 and (max(per) - min(per)) / v > SPEED_CHANGE_FRACTION:
        q.add("speed_change")
    kmh = v * 3.6
    if kmh < g.min_speed_kmh:
        q.add("low_speed")
    if kmh > g.max_speed_kmh:
        q.add("implausible_speed")
    for m in axles:
        # A wheel seen by neither row, or a platform pulse much wider than Lp/v (two axles on it).
        if all(r is None or r.left is None for r in (m.a, m.b)) or all(
            r is None or r.right is None for r in (m.a, m.b)
        ):
            q.add("off_scale")
        for r in (m.a, m.b):
            if r is not None and r.width * v / g.rate > 1.6 * g.platform_length_m:
                q.add("merged_axles")
    return q


def build_vehicle(g: LaneGeometry, axles: list[AxleMatch]) -> MeasuredVehicle | None:
    """Measure a vehicle from its axles; None when it is not a vehicle (noise, a fragment)."""
    v, per = _axle_speeds(g, axles)
    if v <= 0:
        return None  # no axle crossed both rows: noise or a fragment, not a vehicle
    q = _quality(g, axles, v, per)
    use_per = "speed_change" in q
    out: list[MeasuredAxle] = []
    for i, m in enumerate(axles):
        va = per[i] if use_per else v
        spacing = 0.0
        if i:
            prev = axles[i - 1]
            dts = [m.t_a - prev.t_a]
            if m.b and prev.b:
                dts.append(m.b.center - prev.b.center)
            vp = 0.5 * (per[i] + per[i - 1]) if use_per else v
            spacing = float(np.mean(dts)) / g.rate * vp
        rows = [r for r in (m.a, m.b) if r is not None]
        left = _side_load([r.left for r in rows], va, g)
        right = _side_load([r.right for r in rows], va, g)
        left_kg, right_kg = left or 0.0, right or 0.0
        total = left_kg + right_kg
        if total > 0 and min(left_kg, right_kg) / total < OFF_SCALE_SHARE:
            q.add("off_scale")
        out.append(
            MeasuredAxle(
                load_kg=total,
                left_kg=left_kg,
                right_kg=right_kg,
                spacing_m=spacing,
                speed_mps=va,
                row_a_kg=_row_load(m.a, va, g),
                row_b_kg=_row_load(m.b, va, g),
            )
        )
    first = axles[0]
    if first.a is not None:
        lead = first.a.lead
    else:
        assert first.b is not None  # an axle is seen by at least one row
        lead = first.b.lead - g.row_spacing_m / v * g.rate
    return MeasuredVehicle(g.lane, lead, v, tuple(out), frozenset(q))
