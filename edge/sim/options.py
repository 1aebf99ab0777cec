"""Options and result of a simulation run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge.errors import ConfigError
from edge.sim.traffic import SimVehicle

DEFAULT_T0_UNIX_NS = 1_763_705_730_000_000_000
DEFAULT_VEHICLES = 20


def _even_size(size: tuple[int, int]) -> bool:
    """Video sizes the mp4v encoder takes: even, from 160x120 to 3840x2160."""
    w, h = size
    return 160 <= w <= 3840 and 120 <= h <= 2160 and w % 2 == 0 and h % 2 == 0


@dataclass(frozen=True)
class SimOptions:
    """How to simulate a scenario. Defaults give a realistic 2-lane reference-site recording.

    vehicles / duration_s: give either, both or neither (then DEFAULT_VEHICLES). With only a
    duration the vehicle count follows from `mean_headway_s`; with both, the headway is chosen to
    fit and the duration grows if the vehicles need more time.
    line_noise: probability per LCS1 frame that the line damages it (a flipped byte, a cut-out
    span, or garbage inserted before it). lost_frames: probability per frame that the board's
    frame never arrives (a seq gap). overload_fraction: share of *trucks* drawn overloaded.
    clock_ppm: the board clock's rate error against the host clock.
    accel_max_mps2: constant acceleration per vehicle drawn in +-this (0: constant speed).
    include_video: also write one video per site camera (edge.sim.video) and give the vehicles
    of the cameras' lanes plates in truth; video_size (width, height), video_fps and
    covered_plates (share of plates covered, truth null) shape it.
    """

    vehicles: int | None = None
    seed: int = 0
    duration_s: float | None = None
    lanes: int = 2
    speed_kmh: tuple[float, float] = (20.0, 100.0)
    dynamic_max: float = 0.10
    noise_kg: float = 3.0
    zero_drift_counts: float = 300.0
    line_noise: float = 0.0005
    lost_frames: float = 0.0
    overload_fraction: float = 0.10
    accel_max_mps2: float = 0.0
    clock_ppm: float = 0.0
    mean_headway_s: float = 6.0
    include_video: bool = False
    video_size: tuple[int, int] = (1280, 720)
    video_fps: float = 10.0
    covered_plates: float = 0.05  # share of plates covered (truth plate null)
    rate: int = 2000
    nsamp: int = 20
    t0_unix_ns: int = DEFAULT_T0_UNIX_NS
    site: Path | None = None  # site configuration; default: the packaged reference site

    def __post_init__(self) -> None:
        checks = [
            (0 <= self.seed < 2**63, "seed", "0..2^63-1"),
            (self.vehicles is None or 0 <= self.vehicles <= 1_000_000, "vehicles", "0..1e6"),
            (self.duration_s is None or 1 <= self.duration_s <= 86_400, "duration", "1 s..24 h"),
            (self.lanes in (1, 2), "lanes", "1 or 2"),
            (5 <= self.speed_kmh[0] <= self.speed_kmh[1] <= 160, "speed", "5 <= min <= max <= 160"),
            (0 <= self.dynamic_max <= 0.3, "dynamic", "0..0.3"),
            (0 <= self.noise_kg <= 500, "noise_kg", "0..500"),
            (0 <= self.zero_drift_counts <= 1e6, "zero_drift_counts", "0..1e6"),
            (0 <= self.line_noise <= 0.5, "line_noise", "0..0.5"),
            (0 <= self.lost_frames <= 0.5, "lost_frames", "0..0.5"),
            (0 <= self.overload_fraction <= 1, "overload_fraction", "0..1"),
            (0 <= self.accel_max_mps2 <= 1.0, "accel", "0..1 m/s2"),
            (abs(self.clock_ppm) <= 1000, "clock_ppm", "-1000..1000"),
            (0.5 <= self.mean_headway_s <= 3600, "mean_headway_s", "0.5..3600"),
            (100 <= self.rate <= 65535, "rate", "100..65535"),
            (1 <= self.nsamp <= 100, "nsamp", "1..100"),
            (self.t0_unix_ns >= 0, "t0_unix_ns", ">= 0"),
            (_even_size(self.video_size), "video size", "even WxH, 160x120..3840x2160"),
            (1 <= self.video_fps <= 60, "video fps", "1..60"),
            (0 <= self.covered_plates <= 1, "covered_plates", "0..1"),
        ]
        for ok, name, expected in checks:
            if not ok:
                raise ConfigError(f"simulate: {name} out of range (expected {expected})")

    @property
    def vehicle_count(self) -> int | None:
        """Vehicles to draw, or None to fill `duration_s`."""
        if self.vehicles is None and self.duration_s is None:
            return DEFAULT_VEHICLES
        return self.vehicles


@dataclass(frozen=True)
class SimResult:
    """What generate() wrote."""

    out_dir: Path
    duration_s: float
    vehicles: tuple[SimVehicle, ...]
    frames: int  # frames the board produced
    frames_lost: int  # never sent (seq gaps)
    frames_damaged: int  # sent but corrupted on the line (bad CRC or cut)
    garbage_bursts: int  # junk inserted between frames
    overrange_frames: int
    chunks: int
    bytes: int
    t_us0: int  # board clock at the first frame
    seq0: int

    @property
    def overloaded(self) -> int:
        """Vehicles over their gross limit."""
        return sum(1 for v in self.vehicles if v.body.overloaded)
