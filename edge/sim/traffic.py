"""Traffic: place drawn vehicles on lanes in time, with the dynamic-load parameters of each wheel.

Separation rule (so that the segmentation rule of serial.md section 1 can split vehicles): on one
lane, the gap between the last axle of a vehicle and the first axle of the next, at *both* sensor
rows, is either more than `min_gap_m` (12.5 m, above the site's 12 m largest in-vehicle spacing)
measured at the slower of the two speeds, or more than `min_gap_s` (2.2 s, above the 2 s time
gap). Short gaps (platoons, 12.5-20 m) are drawn on purpose; vehicles on different lanes may be
on the scale at the same time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.sim.vehicles import FLEET, VehicleBody, VehicleType, draw_body, pick_type
from edge.wim.model import Axle, WeighedVehicle

LEAD_IN_S = 2.0  # empty scale before the first vehicle, so the zero can be seen
MIN_GAP_M = 12.5
MIN_GAP_S = 2.2
P_SIDE_BY_SIDE = 0.15  # next vehicle on the other lane at almost the same time
P_PLATOON = 0.25  # next vehicle follows closely on the same lane


@dataclass(frozen=True)
class WheelDynamics:
    """Per-axle wheel parameters: how the load splits, the tyre, and the dynamic load terms."""

    left_fraction: tuple[float, ...]  # share of each axle load on the left wheel
    footprint_m: tuple[float, ...]  # tyre contact length per axle
    a1: tuple[float, ...]  # body-bounce amplitude per axle
    f1_hz: float  # body bounce, common to the vehicle
    phi1: tuple[float, ...]
    a2: tuple[float, ...]  # axle-hop amplitude per axle
    f2_hz: tuple[float, ...]
    phi2_left: tuple[float, ...]
    phi2_right: tuple[float, ...]


@dataclass(frozen=True)
class SimVehicle:
    """A vehicle placed in traffic: what truth.jsonl reports plus what the physics needs."""

    body: VehicleBody
    lane: int
    t_ns: int  # leading edge of the first tyre reaches the start of row A
    speed_mps: float  # at t_ns
    accel_mps2: float
    wheels: WheelDynamics
    plate: str | None = None  # truth: null without a camera or when covered by design
    plate_color: str | None = None

    @property
    def t_s(self) -> float:
        """t_ns in seconds."""
        return self.t_ns * 1e-9

    @property
    def offsets_m(self) -> tuple[float, ...]:
        """Distance of each axle behind the first one."""
        return tuple(float(x) for x in np.cumsum(self.body.spacings_m))

    def time_to_travel(self, distance_m: float) -> float:
        """Seconds after t_ns at which the first axle has moved `distance_m` from row A."""
        v, a = self.speed_mps, self.accel_mps2
        if abs(a) < 1e-9:
            return distance_m / v
        disc = v * v + 2.0 * a * distance_m
        if disc <= 0:  # it would stop first; cannot happen with the bounded accelerations
            return math.inf
        return (-v + math.sqrt(disc)) / a

    def speed_at(self, distance_m: float) -> float:
        """Speed when the first axle has moved `distance_m` from row A."""
        return math.sqrt(max(self.speed_mps**2 + 2.0 * self.accel_mps2 * distance_m, 0.01))

    def weighed(self, calibration_id: str = "truth") -> WeighedVehicle:
        """The vehicle as a perfect scale would report it (static loads, left/right split)."""
        axles = tuple(
            Axle(load_kg=float(load), spacing_m=sp, left_kg=load * lf, right_kg=load * (1 - lf))
            for load, sp, lf in zip(
                self.body.loads_kg, self.body.spacings_m, self.wheels.left_fraction, strict=True
            )
        )
        return WeighedVehicle(
            lane=self.lane,
            t_ns=self.t_ns,
            speed_kmh=self.speed_mps * 3.6,
            axles=axles,
            calibration_id=calibration_id,
            source="simulator",
        )

    def truth(self) -> dict[str, object]:
        """The truth.jsonl line of bench.md (kind 'vehicle')."""
        return {
            "kind": "vehicle",
            "lane": self.lane,
            "t_ns": self.t_ns,
            "speed_mps": self.speed_mps,
            "axles": [
                {"load_kg": load, "spacing_m": sp}
                for load, sp in zip(self.body.loads_kg, self.body.spacings_m, strict=True)
            ],
            "plate": self.plate,
            "plate_color": self.plate_color,
            "overloaded": self.body.overloaded,
        }


@dataclass(frozen=True)
class TrafficParams:
    """What traffic() needs from SimOptions and the site."""

    lanes: tuple[int, ...]
    vehicles: int | None
    duration_s: float | None
    speed_kmh: tuple[float, float]
    dynamic_max: float
    overload_fraction: float
    accel_max_mps2: float
    mean_headway_s: float  # per lane
    row_spacing_m: float
    platform_m: float


def _floats(x: npt.NDArray[np.float64]) -> tuple[float, ...]:
    return tuple(float(v) for v in x)


def _wheel_dynamics(
    body: VehicleBody, rng: np.random.Generator, dynamic_max: float
) -> WheelDynamics:
    """Draw the wheels: 45-55 % left, footprint growing with load, a1 + a2 <= dynamic_max."""
    n = body.kind.n_axles
    total = rng.uniform(0.2, 1.0, n) * dynamic_max
    split = rng.uniform(0.3, 0.8, n)  # share of the amplitude in body bounce
    wheel_kg = np.array(body.loads_kg) / 2.0
    footprint = np.clip(0.15 + 0.2 * wheel_kg / 5000.0 + rng.uniform(-0.02, 0.02, n), 0.15, 0.35)
    return WheelDynamics(
        left_fraction=_floats(rng.uniform(0.45, 0.55, n)),
        footprint_m=_floats(footprint),
        a1=_floats(total * split),
        f1_hz=float(rng.uniform(1.5, 4.0)),
        phi1=_floats(rng.uniform(0, 2 * np.pi, n)),
        a2=_floats(total * (1 - split)),
        f2_hz=_floats(rng.uniform(8.0, 15.0, n)),
        phi2_left=_floats(rng.uniform(0, 2 * np.pi, n)),
        phi2_right=_floats(rng.uniform(0, 2 * np.pi, n)),
    )


def _earliest(prev: SimVehicle | None, v: float, gap_m: float, params: TrafficParams) -> float:
    """Earliest t (s) for a vehicle at speed v behind `prev` on the same lane (module rule)."""
    if prev is None:
        return LEAD_IN_S
    length = prev.offsets_m[-1]
    t_last_a = prev.t_s + prev.time_to_travel(length)
    v_prev = prev.speed_at(length)
    gap_s = gap_m / min(v_prev, v)
    if gap_m <= MIN_GAP_M:  # the default rule: enough space OR enough time
        gap_s = min(gap_s, MIN_GAP_S)
    # a faster follower closes the gap between row A and row B; keep the rule at row B too
    catch_up = max(0.0, params.row_spacing_m / v_prev - params.row_spacing_m / v)
    return t_last_a + gap_s + catch_up


def end_time_s(veh: SimVehicle, params: TrafficParams) -> float:
    """When the last tyre has left the last platform."""
    dist = (
        veh.offsets_m[-1] + params.row_spacing_m + params.platform_m + max(veh.wheels.footprint_m)
    )
    return veh.t_s + veh.time_to_travel(dist)


def traffic(
    rng: np.random.Generator, params: TrafficParams, fleet: tuple[VehicleType, ...] = FLEET
) -> list[SimVehicle]:
    """Draw and place vehicles; sorted by t_ns. Stops at `vehicles` or at `duration_s`."""
    n_lanes = len(params.lanes)
    if params.vehicles is not None and params.duration_s is not None:
        headway = max((params.duration_s - LEAD_IN_S - 5.0) / max(params.vehicles, 1), 0.1)
    else:
        headway = params.mean_headway_s / n_lanes
    last: dict[int, SimVehicle] = {}
    out: list[SimVehicle] = []
    clock = LEAD_IN_S
    prev_lane = params.lanes[0]
    while params.vehicles is None or len(out) < params.vehicles:
        body = draw_body(pick_type(rng, fleet), rng, params.overload_fraction)
        v = round(float(rng.uniform(*params.speed_kmh)) / 3.6, 2)
        accel = round(float(rng.uniform(-1, 1)) * params.accel_max_mps2, 3)
        accel = max(accel, -0.006 * v * v)  # braking keeps >= 80 % of the speed over 30 m
        u = rng.random()
        gap_m = MIN_GAP_M
        if n_lanes > 1 and u < P_SIDE_BY_SIDE and out:
            lane = next(x for x in params.lanes if x != prev_lane)
            cand = out[-1].t_s + rng.uniform(-0.3, 0.5)
        else:
            lane = params.lanes[int(rng.integers(n_lanes))]
            cand = clock + rng.exponential(headway)
            if P_SIDE_BY_SIDE <= u < P_SIDE_BY_SIDE + P_PLATOON:
                gap_m, cand = float(rng.uniform(MIN_GAP_M, 20.0)), 0.0
        t = max(cand, _earliest(last.get(lane), v, gap_m, params))
        veh = SimVehicle(
            body=body,
            lane=lane,
            t_ns=round(t * 1e9),
            speed_mps=v,
            accel_mps2=accel,
            wheels=_wheel_dynamics(body, rng, params.dynamic_max),
        )
        fill = params.vehicles is None and params.duration_s is not None
        if fill and end_time_s(veh, params) + 1.0 > (params.duration_s or 0.0):
            break
        out.append(veh)
        last[lane] = veh
        clock = max(clock, veh.t_s)
        prev_lane = lane
    out.sort(key=lambda x: (x.t_ns, x.lane))
    return out
