"""Typed values that flow from the scale to the rules and the records.

Times are integers in nanoseconds on the *scenario/unit* time line (`t_ns`), the same line as
SCAP1 and frames.csv: wall-clock = t0_unix_ns + t_ns.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Axle:
    """One weighed axle."""

    load_kg: float
    spacing_m: float  # distance from the previous axle; 0.0 for the first
    left_kg: float = 0.0
    right_kg: float = 0.0


@dataclass(frozen=True)
class VehicleClass:
    """A vehicle's class under one scheme (e.g. 'cn-axles' '6-1+2+3', 'fhwa13' '10')."""

    scheme: str
    code: str
    description: str = ""


@dataclass(frozen=True)
class WeighedVehicle:
    """A vehicle as the scale saw it: the input of the rules and of the records."""

    lane: int
    t_ns: int  # first axle crosses the first sensor row
    speed_kmh: float
    axles: tuple[Axle, ...]
    calibration_id: str
    quality: frozenset[str] = field(default_factory=frozenset)
    source: str = ""
    seq: int | None = None  # controller's record number (WVR1), if any
    classes: tuple[VehicleClass, ...] = ()

    @property
    def gross_kg(self) -> float:
        """Sum of the axle loads."""
        return sum(a.load_kg for a in self.axles)

    @property
    def spacings_m(self) -> tuple[float, ...]:
        """Spacings between consecutive axles (len = axles - 1)."""
        return tuple(a.spacing_m for a in self.axles[1:])

    def groups(self, group_spacing_m: float = 2.1) -> tuple[tuple[int, ...], ...]:
        """Axle indices grouped: consecutive axles closer than `group_spacing_m` share a group."""
        out: list[list[int]] = []
        for i, axle in enumerate(self.axles):
            if i > 0 and axle.spacing_m < group_spacing_m:
                out[-1].append(i)
            else:
                out.append([i])
        return tuple(tuple(g) for g in out)
