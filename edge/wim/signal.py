"""Per-channel WIM signal processing: kilograms in, wheel pulses out.

Each channel carries the vertical force on one platform. A wheel crossing a platform of length
Lp at speed v makes a trapezoid pulse whose area is `W * Lp / v` (specs/serial.md section 1), so
the wheel load is `area * v / Lp` once the speed is known from the row A -> row B timing
(`edge.wim.vehicles`). This module finds the pulses and measures them; it knows nothing of speed.

Per channel, on blocks of samples (numpy, no per-sample Python loop):
- the zero is tracked (temperature drift) only on samples far from any pulse;
- a pulse is a run of samples above a low threshold that contains a sample above a high one
  (hysteresis); both thresholds follow the measured noise;
- a pulse's area, peak, 50 % crossings (their distance is Lp / v) and leading edge are measured
  with sub-sample interpolation.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DetectorConfig:
    """Thresholds and time constants of the pulse detector (kg, seconds)."""

    on_floor_kg: float = 40.0  # a pulse must reach this (or on_sigmas x noise)
    off_floor_kg: float = 12.0  # a pulse ends below this (or off_sigmas x noise)
    on_sigmas: float = 8.0
    off_sigmas: float = 4.0
    pad: int = 3  # samples integrated on each side of the run (the ramp feet below threshold)
    min_run: int = 3  # shorter runs are spikes
    zero_tau_s: float = 2.0  # time constant of zero tracking (on unloaded samples)
    noise_tau_s: float = 5.0
    max_pulse_s: float = 4.0  # a longer run is a stuck load: the zero is re-seated
    reseat_s: float = 0.5  # a zero this long below -off threshold is re-seated


@dataclass(frozen=True)
class Pulse:
    """One wheel crossing one platform; times are fractional sample indices."""

    channel: int
    rise: float  # 50 % crossing on the way up
    fall: float  # 50 % crossing on the way down
    lead: float  # estimated start of the ramp (the tyre's leading edge reaches the platform)
    area: float  # sum of kg over the pulse (kg x samples)
    peak: float  # kg
    overrange: bool = False
    lost: bool = False  # overlaps samples interpolated over lost frames

    @property
    def center(self) -> float:
        """Middle of the 50 % crossings: the tyre centre over the platform centre."""
        return 0.5 * (self.rise + self.fall)

    @property
    def width(self) -> float:
        """Distance of the 50 % crossings in samples: Lp / v for a trapezoid."""
        return self.fall - self.rise


def _crossing_up(z: FloatArray, level: float, start: int, stop: int) -> float:
    """First fractional index in [start, stop) where z rises through `level`."""
    seg = z[start:stop]
    hits = np.flatnonzero(seg >= level)
    k = start + int(hits[0]) if hits.size else start
    if k <= 0:
        return float(k)
    lo, hi = z[k - 1], z[k]
    frac = (level - lo) / (hi - lo) if hi > lo else 1.0
    return float(k - 1 + min(max(frac, 0.0), 1.0))


def _crossing_down(z: FloatArray, level: float, start: int, stop: int) -> float:
    """Last fractional index in [start, stop) after which z falls through `level`."""
    seg = z[start:stop]
    hits = np.flatnonzero(seg >= level)
    k = start + int(hits[-1]) if hits.size else stop - 1
    if k + 1 >= len(z):
        return float(k)
    hi, lo = z[k], z[k + 1]
    frac = (hi - level) / (hi - lo) if hi > lo else 0.0
    return float(k + min(max(frac, 0.0), 1.0))


def measure_pulse(
    z: FloatArray, a: int, b: int, run0: int, run1: int
) -> tuple[float, float, float, float, float]:
    """(rise, fall, lead, area, peak) of the pulse z[a:b] whose above-threshold run is z[run0:run1].

    Indices are relative to z. The plateau level is the median of samples above half the peak,
    which keeps one noisy or bouncing sample from moving the 50 % level.
    """
    run = z[run0:run1]
    peak = float(run.max())
    plateau = float(np.median(run[run >= 0.5 * peak]))
    rise = _crossing_up(z, 0.5 * plateau, run0, run1)
    fall = _crossing_down(z, 0.5 * plateau, run0, run1)
    r20 = _crossing_up(z, 0.2 * plateau, a, run1)
    r80 = _crossing_up(z, 0.8 * plateau, a, run1)
    ramp = min(max((r80 - r20) / 0.6, 0.0), max(fall - rise, 0.0))
    lead = rise - 0.5 * ramp
    area = float(z[a:b].sum())
    return rise, fall, lead, area, peak


def split_points(z: FloatArray, r0: int, r1: int, min_run: int, depth: int = 3) -> list[int]:
    """Where a run of z holds two wheels whose pulses touch: valleys below half the lower peak.

    Axles a little further apart than the platform plus the footprint leave the platform loaded
    between the two wheels; the valley between them is still deep (a third of a wheel at most),
    while bounce and hop move the load by 15 % at most, so half the lower neighbouring peak
    separates the two cases.
    """
    n = r1 - r0
    if depth == 0 or n < 3 * min_run:
        return []
    seg = np.convolve(z[r0:r1], np.ones(3) / 3.0, mode="same")
    left = np.maximum.accumulate(seg)
    right = np.maximum.accumulate(seg[::-1])[::-1]
    inner = slice(min_run, n - min_run)
    ratio = seg[inner] / np.maximum(np.minimum(left[inner], right[inner]), 1e-9)
    k = int(np.argmin(ratio))
    if ratio[k] >= 0.5:
        return []
    cut = r0 + min_run + k
    return [
        *split_points(z, r0, cut, min_run, depth - 1),
        cut,
        *split_points(z, cut, r1, min_run, depth - 1),
    ]


@dataclass
class _Channel:
    """Mutable state of one channel's detector."""

    baseline: float = 0.0
    sigma: float = 0.0  # 0 = not yet measured
    carry: FloatArray = field(default_factory=lambda: np.zeros(0))
    carry_start: int = 0
    neg_samples: int = 0


class PulseDetector:
    """Finds wheel pulses on a group of channels fed with blocks of kilograms.

    `process(kg, index0)` takes an (n, nch) block whose first row is sample `index0` and returns
    the pulses that completed, in no particular order. Blocks must be contiguous; call
    `gap(start, stop, filled)` when samples were lost (filled: the caller interpolated them).
    """

    def __init__(
        self,
        nch: int,
        rate: int,
        sat_hi: FloatArray,
        sat_lo: FloatArray,
        config: DetectorConfig | None = None,
    ) -> None:
        self.cfg = config or DetectorConfig()
        self.rate = rate
        self._ch = [_Channel() for _ in range(nch)]
        self._sat_hi = sat_hi  # kg (before zero tracking) at the ADC's full scale
        self._sat_lo = sat_lo
        self._gaps: deque[tuple[int, int]] = deque(maxlen=256)
        self._max_carry = round(self.cfg.max_pulse_s * rate)
        self.rejected = 0  # runs too short or too weak to be a wheel
        self.stuck = 0  # runs longer than max_pulse_s (the zero was re-seated)
        self.reseats = 0

    def thresholds(self, c: int) -> tuple[float, float]:
        """(on, off) thresholds of channel c in kg above its zero."""
        s = self._ch[c].sigma
        cfg = self.cfg
        return max(cfg.on_floor_kg, cfg.on_sigmas * s), max(cfg.off_floor_kg, cfg.off_sigmas * s)

    def baseline(self, c: int) -> float:
        """Current zero of channel c in kg (relative to the calibration zero)."""
        return self._ch[c].baseline

    def gap(self, start: int, stop: int, filled: bool) -> None:
        """Samples [start, stop) were lost; unless filled, pulses in progress are dropped."""
        self._gaps.append((start, stop))
        if not filled:
            for ch in self._ch:
                ch.carry = np.zeros(0)

    def process(self, kg: FloatArray, index0: int) -> list[Pulse]:
        """Feed a contiguous block (n, nch) starting at sample `index0`; return finished pulses."""
        out: list[Pulse] = []
        for c in range(len(self._ch)):
            out.extend(self._process_channel(c, kg[:, c], index0))
        return out

    def flush(self) -> list[Pulse]:
        """End of input: close pulses still in progress."""
        out: list[Pulse] = []
        pad = np.zeros(self.cfg.pad + 1)
        for c, ch in enumerate(self._ch):
            if ch.carry.size:
                start = ch.carry_start + ch.carry.size
                out.extend(self._process_channel(c, pad + ch.baseline, start))
        return out

    def _process_channel(self, c: int, x: FloatArray, index0: int) -> list[Pulse]:
        ch = self._ch[c]
        cfg = self.cfg
        if ch.carry.size and ch.carry_start + ch.carry.size == index0:
            y = np.concatenate((ch.carry, x))
            s0 = ch.carry_start
        else:
            y, s0 = x, index0
        n_old = index0 - s0
        z = y - ch.baseline
        on, off = self.thresholds(c)
        above = z > off
        edges = np.diff(above.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
        starts = np.flatnonzero(edges == 1)
        ends = np.flatnonzero(edges == -1)
        pulses: list[Pulse] = []
        unloaded = np.ones(len(z), dtype=bool)
        keep_from = max(len(z) - cfg.pad, 0)
        for r0, r1 in zip(starts.tolist(), ends.tolist(), strict=True):
            a, b = max(r0 - cfg.pad, 0), min(r1 + cfg.pad, len(z))
            unloaded[a:b] = False
            if r1 + cfg.pad > len(z):  # not finished: keep it for the next block
                keep_from = min(keep_from, a)
                break
            if r1 - r0 < cfg.min_run or float(z[r0:r1].max()) < on:
                self.rejected += 1
                continue
            cuts = [r0, *split_points(z, r0, r1, cfg.min_run), r1]
            for k0, k1 in itertools.pairwise(cuts):
                pa = a if k0 == r0 else k0
                pb = b if k1 == r1 else k1
                pulses.append(self._pulse(c, y, z, s0, (pa, pb, k0, k1)))
        self._track_zero(c, z[n_old:keep_from], unloaded[n_old:keep_from])
        ch.carry, ch.carry_start = y[keep_from:].copy(), s0 + keep_from
        if ch.carry.size > self._max_carry:
            self._stuck(c)
        return pulses

    def _pulse(
        self, c: int, y: FloatArray, z: FloatArray, s0: int, span: tuple[int, int, int, int]
    ) -> Pulse:
        a, b, r0, r1 = span
        rise, fall, lead, area, peak = measure_pulse(z, a, b, r0, r1)
        seg = y[a:b]
        over = bool(seg.max() >= self._sat_hi[c] or seg.min() <= self._sat_lo[c])
        g0, g1 = s0 + a, s0 + b
        lost = any(gs < g1 and ge > g0 for gs, ge in self._gaps)
        return Pulse(c, s0 + rise, s0 + fall, s0 + lead, area, peak, over, lost)

    def _track_zero(self, c: int, z: FloatArray, unloaded: npt.NDArray[np.bool_]) -> None:
        """Follow the zero on samples far from any pulse; re-seat a zero far below the old one."""
        ch = self._ch[c]
        cfg = self.cfg
        zu = z[unloaded]
        if zu.size >= 8:
            d = np.abs(np.diff(zu))
            s_blk = float(np.median(d)) / 0.954  # white noise: median |diff| = 0.954 sigma
            w_n = 1.0 - np.exp(-zu.size / (cfg.noise_tau_s * self.rate))
            ch.sigma = s_blk if ch.sigma == 0.0 else ch.sigma + w_n * (s_blk - ch.sigma)
            _, off = self.thresholds(c)
            m = float(np.median(zu))
            if m < -off:
                ch.neg_samples += zu.size
                if ch.neg_samples > cfg.reseat_s * self.rate:
                    ch.baseline += m
                    ch.neg_samples = 0
                    self.reseats += 1
                return
            ch.neg_samples = 0
            w = 1.0 - np.exp(-zu.size / (cfg.zero_tau_s * self.rate))
            ch.baseline += w * float(np.mean(zu))

    def _stuck(self, c: int) -> None:
        """A run longer than any wheel: a standing load or a zero jump; take it as the zero."""
        ch = self._ch[c]
        tail = ch.carry[-max(1, self.rate // 10) :]
        ch.baseline = float(np.median(tail))
        ch.carry = np.zeros(0)
        self.stuck += 1
        self.reseats += 1
        log.warning(
            "channel %d: load for more than %.1f s, zero re-seated", c, self.cfg.max_pulse_s
        )
