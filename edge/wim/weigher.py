"""The WIM stage the service uses: LCS1 frames of one serial source in, weighed vehicles out.

    weigher = Lcs1Weigher(site, "wim0")
    for frame, host_t_ns in frames:          # in arrival order
        for vehicle in weigher.feed(frame, host_t_ns):
            ...
    vehicles = weigher.flush()               # end of input

Frames are placed on a continuous sample line by the board clock (`edge.wim.timebase`), short
gaps of lost frames are bridged by interpolation (and flagged), samples are converted to kg with
the calibration and processed in blocks of ~0.1 s (`edge.wim.signal`), and each lane assembles
its vehicles (`edge.wim.vehicles`). Scenario time comes from the fitted board -> host time map.
State is bounded: memory stays flat however long the input.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.config.site import Calibration, SiteConfig
from edge.errors import ConfigError
from edge.wim.model import Axle, VehicleClass, WeighedVehicle
from edge.wim.protocols.lcs1 import FLAG_OVERRANGE, FULL_SCALE, Lcs1Frame
from edge.wim.signal import DetectorConfig, Pulse, PulseDetector
from edge.wim.timebase import BoardClock, TimeMap
from edge.wim.vehicles import LaneAssembler, LaneGeometry, MeasuredVehicle

log = logging.getLogger(__name__)

BLOCK_S = 0.1  # processing block: numpy work per ~0.1 s of samples, not per sample
MAX_FILL_S = 0.5  # lost stretches up to this long are interpolated; longer ones drop pulses

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class WeigherStats:
    """Counters of one weigher since it started."""

    frames: int
    bad_frames: int  # frames with too few channels for the configured lanes
    lost_frames: int
    lost_samples: int
    clock_restarts: int
    overrange_frames: int
    pulses: int
    pulses_rejected: int
    axles_unmatched: int  # axles seen by one row only
    axles_rejected: int  # axles in fragments that were not vehicles
    zero_reseats: int
    vehicles: int
    axles: int


def speed_factor(calibration: Calibration, lane: int, speed_kmh: float) -> float:
    """Load factor of the speed band containing `speed_kmh` (lane-specific bands first)."""
    bands = calibration.speed_factors
    for want_lane in (lane, None):
        for band in bands:
            if band.lane == want_lane and band.min_kmh <= speed_kmh < band.max_kmh:
                return band.factor
    return 1.0


def _classify(vehicle: WeighedVehicle, group_spacing_m: float) -> tuple[VehicleClass, ...]:
    """Classes of the vehicle when the classification module is installed."""
    try:
        from edge.wim.classify import classify  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415
    except ImportError:
        return ()
    result: tuple[VehicleClass, ...] = classify(vehicle, group_spacing_m=group_spacing_m)
    return result


class Lcs1Weigher:
    """Weighs the vehicles of every lane carried by one LCS1 serial source."""

    def __init__(
        self, site: SiteConfig, source: str, detector: DetectorConfig | None = None
    ) -> None:
        self.site = site
        self.source = source
        self._lanes = [ln for ln in site.wim.lanes if ln.source == source and ln.channels]
        if not self._lanes:
            raise ConfigError(f"wim.lanes: no LCS1 lane uses serial source {source!r}")
        cal = site.calibration.channels.get(source, [])
        self._cols = np.array(
            [c for ln in self._lanes if ln.channels for c in ln.channels.as_tuple()]
        )
        self._zero = np.array([cal[c].zero for c in self._cols], dtype=np.float64)
        self._kpc = np.array([cal[c].kg_per_count for c in self._cols], dtype=np.float64)
        self._det_cfg = detector
        self._clock = BoardClock()
        self._map: TimeMap | None = None
        self._det: PulseDetector | None = None
        self._asm: list[LaneAssembler] = []
        self._pending: list[FloatArray] = []
        self._pending_n = 0
        self._pending_start = 0
        self._last_row: FloatArray | None = None
        self._block = 1
        self._counts = dict.fromkeys(
            ("frames", "bad_frames", "lost_samples", "overrange_frames", "pulses"), 0
        )
        self._vehicles = 0
        self._axles = 0

    # -- public API -----------------------------------------------------------------------------

    def feed(self, frame: Lcs1Frame, host_t_ns: int) -> list[WeighedVehicle]:
        """Process one frame received at `host_t_ns` (scenario ns); return finished vehicles."""
        return [self._publish(m) for m in self.feed_measured(frame, host_t_ns)]

    def flush(self) -> list[WeighedVehicle]:
        """End of input: finish pulses and vehicles in progress."""
        return [self._publish(m) for m in self.flush_measured()]

    def feed_measured(self, frame: Lcs1Frame, host_t_ns: int) -> list[MeasuredVehicle]:
        """Like `feed`, but the raw measurements (per row loads, no speed factors)."""
        if frame.nch <= int(self._cols.max()):
            self._counts["bad_frames"] += 1
            return []
        self._counts["frames"] += 1
        if frame.flags & FLAG_OVERRANGE:
            self._counts["overrange_frames"] += 1
        rate_before = self._clock.rate
        timing = self._clock.place(frame.t_us, frame.seq, frame.nsamp, frame.rate, frame.flags)
        out: list[MeasuredVehicle] = []
        if self._map is None or frame.rate != rate_before:
            out.extend(self.flush_measured() if self._map is not None else [])
            self._start(frame.rate, timing.index)
        assert self._map is not None
        if timing.restarted:
            self._map.reset()
        self._map.observe(timing.index + frame.nsamp - 1, host_t_ns)
        kg = (frame.samples[:, self._cols] - self._zero) * self._kpc
        if timing.lost_samples:
            out.extend(self._bridge(timing.index - timing.lost_samples, timing.index, kg[0]))
        self._pending.append(kg)
        self._pending_n += kg.shape[0]
        self._last_row = kg[-1]
        if self._pending_n >= self._block:
            out.extend(self._process())
        return out

    def flush_measured(self) -> list[MeasuredVehicle]:
        """Like `flush`, but the raw measurements."""
        if self._det is None:
            return []
        out = self._process()
        self._dispatch(self._det.flush())
        for asm in self._asm:
            out.extend(asm.flush())
        self._count(out)
        return out

    def channel_zeros(self) -> dict[int, float]:
        """The zero each used channel has drifted to, in ADC counts (source channel -> counts)."""
        det = self._det
        return {
            int(c): float(self._zero[i] + (det.baseline(i) if det else 0.0) / self._kpc[i])
            for i, c in enumerate(self._cols)
        }

    def to_scenario_ns(self, index: float) -> int:
        """Scenario time (ns since t0) of a sample index (after the first frame)."""
        if self._map is None:
            raise RuntimeError("no frame seen yet")
        return self._map.to_scenario_ns(index)

    def stats(self) -> WeigherStats:
        """A snapshot of the counters."""
        det = self._det
        return WeigherStats(
            frames=self._counts["frames"],
            bad_frames=self._counts["bad_frames"],
            lost_frames=self._clock.lost_frames,
            lost_samples=self._counts["lost_samples"],
            clock_restarts=self._clock.restarts,
            overrange_frames=self._counts["overrange_frames"],
            pulses=self._counts["pulses"],
            pulses_rejected=det.rejected if det else 0,
            axles_unmatched=sum(a.unmatched for a in self._asm),
            axles_rejected=sum(a.rejected_axles for a in self._asm),
            zero_reseats=det.reseats if det else 0,
            vehicles=self._vehicles,
            axles=self._axles,
        )

    # -- internals ------------------------------------------------------------------------------

    def _start(self, rate: int, index: int) -> None:
        g = self.site.wim
        self._map = TimeMap(rate)
        self._block = max(1, round(BLOCK_S * rate))
        sat_hi = (FULL_SCALE - 0.5 - self._zero) * self._kpc
        sat_lo = (-FULL_SCALE - 0.5 - self._zero) * self._kpc
        self._det = PulseDetector(len(self._cols), rate, sat_hi, sat_lo, self._det_cfg)
        self._asm = [
            LaneAssembler(
                LaneGeometry(
                    lane=ln.lane,
                    rate=rate,
                    row_spacing_m=g.row_spacing_m,
                    platform_length_m=g.platform_length_m,
                    max_axle_spacing_m=g.max_axle_spacing_m,
                    max_axle_gap_s=g.max_axle_gap_s,
                    min_speed_kmh=g.min_speed_kmh,
                    max_speed_kmh=g.max_speed_kmh,
                )
            )
            for ln in self._lanes
        ]
        self._pending, self._pending_n, self._pending_start = [], 0, index
        self._last_row = None

    def _bridge(self, start: int, stop: int, first: FloatArray) -> list[MeasuredVehicle]:
        """Samples [start, stop) were lost: bridge a short gap; cut the stream at a long one."""
        assert self._det is not None and self._map is not None
        n = stop - start
        self._counts["lost_samples"] += n
        if n <= MAX_FILL_S * self._map.rate and self._last_row is not None:
            w = (np.arange(1, n + 1, dtype=np.float64) / (n + 1))[:, None]
            fill = self._last_row + w * (first - self._last_row)
            self._det.gap(start, stop, filled=True)
            self._pending.append(fill)
            self._pending_n += n
            return []
        out = self._process()
        self._det.gap(start, stop, filled=False)
        self._pending_start = stop
        return out

    def _process(self) -> list[MeasuredVehicle]:
        if not self._pending or self._det is None:
            return []
        block = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        start = self._pending_start
        self._pending, self._pending_n = [], 0
        self._pending_start = start + block.shape[0]
        self._dispatch(self._det.process(block, start))
        now = float(self._pending_start - self._det.cfg.pad - 1)
        out: list[MeasuredVehicle] = []
        for asm in self._asm:
            out.extend(asm.advance(now))
        self._count(out)
        return out

    def _dispatch(self, pulses: list[Pulse]) -> None:
        for p in pulses:
            self._counts["pulses"] += 1
            self._asm[p.channel // 4].add(p.channel % 4, p)

    def _count(self, vehicles: list[MeasuredVehicle]) -> None:
        self._vehicles += len(vehicles)
        self._axles += sum(len(v.axles) for v in vehicles)

    def _publish(self, m: MeasuredVehicle) -> WeighedVehicle:
        """Apply speed-band factors, map time, classify."""
        assert self._map is not None
        kmh = m.speed_mps * 3.6
        f = speed_factor(self.site.calibration, m.lane, kmh)
        axles = tuple(
            Axle(
                load_kg=round(a.load_kg * f, 1),
                spacing_m=round(a.spacing_m, 3),
                left_kg=round(a.left_kg * f, 1),
                right_kg=round(a.right_kg * f, 1),
            )
            for a in m.axles
        )
        vehicle = WeighedVehicle(
            lane=m.lane,
            t_ns=self._map.to_scenario_ns(m.t_index),
            speed_kmh=round(kmh, 2),
            axles=axles,
            calibration_id=self.site.calibration.id,
            quality=m.quality,
            source=self.source,
        )
        classes = _classify(vehicle, self.site.wim.group_spacing_m)
        if classes:
            vehicle = dataclasses.replace(vehicle, classes=classes)
        return vehicle
