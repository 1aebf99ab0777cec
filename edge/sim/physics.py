"""Platform signals: the force each weighing platform carries, and the ADC counts it reports.

serial.md section 1: a wheel of load W(t) whose tyre footprint Lt overlaps a platform of length
Lp loads it with W(t) * overlap/Lt; the overlap is a trapezoid in time whose area is W * Lp / v.
W(t) = W_static * (1 + a1 sin(2 pi f1 t + phi1) + a2 sin(2 pi f2 t + phi2)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.config.site import SiteConfig
from edge.errors import ConfigError
from edge.sim.traffic import SimVehicle
from edge.wim.protocols.lcs1 import FULL_SCALE

Floats = npt.NDArray[np.float64]
MIN_COUNT = -FULL_SCALE - 1


@dataclass(frozen=True)
class SimSite:
    """What the physics needs from a site configuration (one LCS1 source)."""

    source: str
    url: str
    baud: int
    rows_m: tuple[float, float]  # start of row A and row B along travel
    platform_m: float
    lane_channels: dict[int, tuple[int, int, int, int]]  # a_left, a_right, b_left, b_right
    zero: tuple[float, ...]  # per channel, counts
    kg_per_count: tuple[float, ...]

    @property
    def nch(self) -> int:
        """Channels of the source."""
        return len(self.zero)

    @classmethod
    def from_config(cls, cfg: SiteConfig, lanes: int) -> SimSite:
        """The first `lanes` lanes of the site; they must share one LCS1 source."""
        if len(cfg.wim.lanes) < lanes:
            raise ConfigError(f"site {cfg.site.id} has {len(cfg.wim.lanes)} lane(s), asked {lanes}")
        used = cfg.wim.lanes[:lanes]
        sources = {lane.source for lane in used}
        if len(sources) != 1:
            raise ConfigError(
                f"simulated lanes must share one serial source, got {sorted(sources)}"
            )
        source = sources.pop()
        serial = cfg.serial[source]
        if serial.protocol != "lcs1":
            raise ConfigError(f"serial.{source}: the simulator writes LCS1, not {serial.protocol}")
        cal = cfg.calibration.channels[source]
        chans = {lane.lane: lane.channels.as_tuple() for lane in used if lane.channels is not None}
        return cls(
            source=source,
            url=serial.url,
            baud=serial.baud,
            rows_m=(0.0, cfg.wim.row_spacing_m),
            platform_m=cfg.wim.platform_length_m,
            lane_channels=chans,
            zero=tuple(c.zero for c in cal),
            kg_per_count=tuple(c.kg_per_count for c in cal),
        )


def _first_axle_position(veh: SimVehicle, t: Floats) -> Floats:
    """Distance of the first tyre's leading edge past the start of row A at times t."""
    tau = t - veh.t_s
    return veh.speed_mps * tau + 0.5 * veh.accel_mps2 * tau * tau


def _wheel_loads(veh: SimVehicle, t: Floats) -> tuple[Floats, Floats]:
    """Dynamic left and right wheel loads, shape (axles, samples)."""
    w = veh.wheels
    static = np.asarray(veh.body.loads_kg, dtype=float)[:, None]
    left = static * np.asarray(w.left_fraction)[:, None]
    bounce = np.asarray(w.a1)[:, None] * np.sin(
        2 * np.pi * w.f1_hz * t[None, :] + np.asarray(w.phi1)[:, None]
    )
    a2 = np.asarray(w.a2)[:, None]
    hop = 2 * np.pi * np.asarray(w.f2_hz)[:, None] * t[None, :]
    dyn_l = 1.0 + bounce + a2 * np.sin(hop + np.asarray(w.phi2_left)[:, None])
    dyn_r = 1.0 + bounce + a2 * np.sin(hop + np.asarray(w.phi2_right)[:, None])
    return left * dyn_l, (static - left) * dyn_r


def add_vehicle_force(force: Floats, t: Floats, veh: SimVehicle, site: SimSite) -> None:
    """Add the platform forces (kg) of one vehicle to `force` (samples, channels) in place."""
    x = _first_axle_position(veh, t)[None, :] - np.asarray(veh.offsets_m)[:, None]
    lt = np.asarray(veh.wheels.footprint_m)[:, None]
    w_left, w_right = _wheel_loads(veh, t)
    chans = site.lane_channels[veh.lane]
    for row, start in enumerate(site.rows_m):
        end = start + site.platform_m
        overlap = np.clip(np.minimum(x, end) - np.maximum(x - lt, start), 0.0, None) / lt
        force[:, chans[2 * row]] += (overlap * w_left).sum(axis=0)
        force[:, chans[2 * row + 1]] += (overlap * w_right).sum(axis=0)


@dataclass(frozen=True)
class ChannelErrors:
    """Per-channel zero offset and slow drift (temperature), and white noise."""

    offset: Floats  # counts, added to the calibrated zero at t = 0
    drift_amp: Floats  # counts
    drift_period_s: Floats
    drift_phase: Floats
    noise_counts: Floats  # rms

    @classmethod
    def draw(
        cls, rng: np.random.Generator, site: SimSite, drift_counts: float, noise_kg: float
    ) -> ChannelErrors:
        """Random drifts of about `drift_counts` over an hour, noise of `noise_kg` rms."""
        n = site.nch
        return cls(
            offset=rng.uniform(-20, 20, n),
            drift_amp=rng.uniform(0.5, 1.0, n) * drift_counts,
            drift_period_s=rng.uniform(3600, 10800, n),
            drift_phase=rng.uniform(0, 2 * np.pi, n),
            noise_counts=noise_kg / np.asarray(site.kg_per_count),
        )

    def zero_at(self, site: SimSite, t: Floats) -> Floats:
        """Actual zero of every channel at times t, shape (samples, channels)."""
        arg = 2 * np.pi * t[:, None] / self.drift_period_s[None, :] + self.drift_phase[None, :]
        drift = self.drift_amp * (np.sin(arg) - np.sin(self.drift_phase))
        zero: Floats = np.asarray(site.zero) + self.offset + drift
        return zero


def to_counts(
    force: Floats, t: Floats, site: SimSite, errors: ChannelErrors, rng: np.random.Generator
) -> npt.NDArray[np.int32]:
    """ADC counts = zero(t) + force / kg_per_count + noise, clipped to 24 bits."""
    counts = errors.zero_at(site, t) + force / np.asarray(site.kg_per_count)
    counts += rng.standard_normal(force.shape) * errors.noise_counts
    out: npt.NDArray[np.int32] = np.clip(np.rint(counts), MIN_COUNT, FULL_SCALE).astype(np.int32)
    return out
