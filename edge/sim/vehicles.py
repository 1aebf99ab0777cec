"""The simulated fleet: vehicle types with realistic axle layouts and loads (China-first mix).

Spacings are in metres, loads in kg. Groups (tandem, tridem) use 1.30-1.40 m, well below the
2.1 m group threshold; steering-to-drive spacings are 3-5 m, kingpin-to-trailer 5.5-8 m, so every
in-vehicle spacing stays below the site's 12 m segmentation limit.

Gross limits (GB 1589-2016, simplified; edge.rules owns the real law): 2 axles 18 t, 3 axles 25 t
(27 t articulated), 4 axles 31 t (36 t articulated), 5 axles 43 t, 6 or more axles 49 t.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (axle count, articulated) -> gross limit in kg; 6+ axles use the 6-axle entry.
GROSS_LIMIT_KG: dict[tuple[int, bool], int] = {
    (2, False): 18_000,
    (2, True): 18_000,
    (3, False): 25_000,
    (3, True): 27_000,
    (4, False): 31_000,
    (4, True): 36_000,
    (5, False): 43_000,
    (5, True): 43_000,
    (6, False): 49_000,
    (6, True): 49_000,
}


def gross_limit_kg(n_axles: int, articulated: bool) -> int:
    """Simplified GB 1589-2016 gross limit for a vehicle with `n_axles` axles."""
    return GROSS_LIMIT_KG[(min(max(n_axles, 2), 6), articulated)]


@dataclass(frozen=True)
class VehicleType:
    """One kind of vehicle of the fleet and the ranges its instances are drawn from."""

    name: str
    config: str  # axle groups, e.g. "1+2+3"
    share: float  # weight in the traffic mix
    spacings_m: tuple[tuple[float, float], ...]  # (lo, hi) per spacing, len = axles - 1
    tare_kg: tuple[int, ...]  # typical empty axle loads
    payload_share: tuple[float, ...]  # how the payload spreads over the axles
    max_payload_kg: int  # cars and buses: passengers and luggage; trucks: up to the limit
    truck: bool  # trucks can be empty, laden or overloaded
    articulated: bool = False

    @property
    def n_axles(self) -> int:
        """Number of axles."""
        return len(self.tare_kg)

    @property
    def limit_kg(self) -> int:
        """Gross limit used for the truth's `overloaded`."""
        return gross_limit_kg(self.n_axles, self.articulated)


_T = 1.30, 1.40  # tandem / tridem spacing inside a group

FLEET: tuple[VehicleType, ...] = (
    VehicleType("car", "1+1", 0.30, ((2.45, 2.95),), (700, 550), (0.4, 0.6), 400, False),
    VehicleType("light-truck", "1+1", 0.10, ((2.8, 3.6),), (1400, 1100), (0.3, 0.7), 2500, False),
    VehicleType("bus", "1+1", 0.05, ((5.6, 6.4),), (4500, 7500), (0.35, 0.65), 4000, False),
    VehicleType("rigid-2", "1+1", 0.12, ((3.8, 5.6),), (3500, 2500), (0.25, 0.75), 0, True),
    VehicleType(
        "rigid-3", "1+2", 0.07, ((4.0, 5.2), _T), (5000, 3000, 3000), (0.1, 0.45, 0.45), 0, True
    ),
    VehicleType(
        "artic-3",
        "1+1+1",
        0.02,
        ((3.2, 3.8), (6.5, 8.0)),
        (5000, 4000, 3500),
        (0.1, 0.45, 0.45),
        0,
        True,
        articulated=True,
    ),
    VehicleType(
        "rigid-4",
        "2+2",
        0.07,
        ((1.8, 2.0), (3.8, 4.8), _T),
        (4500, 4500, 3500, 3500),
        (0.1, 0.1, 0.4, 0.4),
        0,
        True,
    ),
    VehicleType(
        "artic-4",
        "1+1+2",
        0.03,
        ((3.2, 3.8), (6.0, 7.5), _T),
        (5000, 4000, 3000, 3000),
        (0.06, 0.34, 0.3, 0.3),
        0,
        True,
        articulated=True,
    ),
    VehicleType(
        "artic-5",
        "1+2+2",
        0.04,
        ((3.0, 3.4), _T, (6.0, 7.5), _T),
        (5500, 3500, 3500, 2500, 2500),
        (0.04, 0.24, 0.24, 0.24, 0.24),
        0,
        True,
        articulated=True,
    ),
    VehicleType(
        "artic-5-tridem",
        "1+1+3",
        0.03,
        ((3.4, 3.9), (5.5, 7.0), _T, _T),
        (5500, 4500, 2000, 2000, 2000),
        (0.04, 0.3, 0.22, 0.22, 0.22),
        0,
        True,
        articulated=True,
    ),
    VehicleType(
        "artic-6",
        "1+2+3",
        0.17,
        ((3.0, 3.4), _T, (6.0, 7.6), _T, _T),
        (5800, 3800, 3800, 2000, 2000, 2000),
        (0.03, 0.19, 0.19, 0.2, 0.2, 0.19),
        0,
        True,
        articulated=True,
    ),
)


@dataclass(frozen=True)
class VehicleBody:
    """A drawn vehicle before it is placed in traffic: static loads and layout."""

    kind: VehicleType
    loads_kg: tuple[int, ...]  # static axle loads
    spacings_m: tuple[float, ...]  # len = axles; 0.0 for the first axle

    @property
    def gross_kg(self) -> int:
        """Sum of the static axle loads."""
        return sum(self.loads_kg)

    @property
    def overloaded(self) -> bool:
        """Over the simplified GB 1589 gross limit of its type."""
        return self.gross_kg > self.kind.limit_kg


def pick_type(rng: np.random.Generator, fleet: tuple[VehicleType, ...] = FLEET) -> VehicleType:
    """Draw a vehicle type with the fleet's weights."""
    shares = np.array([t.share for t in fleet])
    return fleet[int(rng.choice(len(fleet), p=shares / shares.sum()))]


def _gross_target(
    kind: VehicleType, tare: float, rng: np.random.Generator, overload: float
) -> float:
    """Trucks: overloaded (5-45 % over), empty or laden below the limit; others: passengers."""
    if not kind.truck:
        return tare + rng.uniform(0.0, kind.max_payload_kg)
    u = rng.random()
    if u < overload:
        return kind.limit_kg * rng.uniform(1.05, 1.45)
    if u < overload + (1.0 - overload) * 0.35:
        return tare * rng.uniform(1.0, 1.08)
    return max(tare, kind.limit_kg * rng.uniform(0.55, 0.97))


def draw_body(kind: VehicleType, rng: np.random.Generator, overload_fraction: float) -> VehicleBody:
    """Draw spacings and static axle loads (integer kg) for one vehicle of `kind`."""
    spacings = [0.0] + [round(float(rng.uniform(lo, hi)), 3) for lo, hi in kind.spacings_m]
    tare = (
        np.array(kind.tare_kg, dtype=float)
        * rng.uniform(0.9, 1.15)
        * rng.uniform(0.95, 1.05, kind.n_axles)
    )
    gross = _gross_target(kind, float(tare.sum()), rng, overload_fraction)
    share = np.array(kind.payload_share) * rng.uniform(0.9, 1.1, kind.n_axles)
    loads = tare + (gross - tare.sum()) * share / share.sum()
    return VehicleBody(
        kind=kind, loads_kg=tuple(round(float(x)) for x in loads), spacings_m=tuple(spacings)
    )
