"""US federal limits: single axle, tandem, gross, and the Bridge Formula over every axle group.

Geometry follows the statutory definitions, not the site's group spacing: axles within 40 in
form one "single axle"; consecutive axles spanning more than 40 in and at most 96 in are a tandem.
Every run of two or more consecutive axles spanning more than 96 in is held to the Bridge Formula
W = 500 (L N / (N - 1) + 12 N + 36) lb, L in whole feet, W rounded to the nearest 500 lb (the FHWA
table; an exact half goes down). Spans of 96 in or less are tandems, whose 34,000 lb governs (the
table's "8 and less" row).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from edge.rules.axleload import kg
from edge.rules.model import Limit
from edge.rules.schema import UsProfile
from edge.wim.model import WeighedVehicle

KG_PER_LB = Fraction("0.45359237")  # exact, by definition (1959 international pound)
M_PER_FT = 0.3048
M_PER_IN = 0.0254


def lb_to_kg(lb: int) -> int:
    """A limit in pounds as whole kilograms, rounded like measured loads (nearest, half up): a
    load at the limit in pounds then rounds to at most the limit, and is never flagged."""
    return _half_up(lb * KG_PER_LB)


def _half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


def bridge_lb(length_ft: int, n_axles: int, profile: UsProfile) -> int:
    """The Bridge Formula weight for `n_axles` over `length_ft`, rounded to the nearest 500 lb."""
    if n_axles < 2:
        raise ValueError("the Bridge Formula needs two or more axles")
    n = Fraction(n_axles)
    w = profile.bridge_coefficient_lb * (
        Fraction(length_ft) * n / (n - 1)
        + Fraction(str(profile.bridge_per_axle_ft)) * n
        + Fraction(str(profile.bridge_constant_ft))
    )
    step = profile.bridge_round_lb
    # Nearest 500 lb; an exact half goes down, as the FHWA table does (3 axles over 9 ft:
    # 42,750 -> 42,500; over 11 ft: 44,250 -> 44,000).
    return math.ceil(w / step - Fraction(1, 2)) * step


def feet(span_m: float) -> int:
    """A measured span in whole feet, rounded to the nearest foot (half up)."""
    return _half_up(Fraction(span_m) / Fraction(str(M_PER_FT)))


@dataclass(frozen=True)
class _Layout:
    """The vehicle's axles as the federal definitions see them."""

    vehicle: WeighedVehicle
    profile: UsProfile
    units: tuple[tuple[int, ...], ...]  # axle indices; axles within 40 in are one unit
    pos: tuple[float, ...]  # position of each axle behind the first, m

    @classmethod
    def of(cls, vehicle: WeighedVehicle, profile: UsProfile) -> _Layout:
        """Positions and units (23 CFR 658.5 'single axle weight': axles within 40 in)."""
        limit_m = profile.single_axle_span_in * M_PER_IN
        pos = 0.0
        positions: list[float] = []
        units: list[list[int]] = []
        for i, axle in enumerate(vehicle.axles):
            pos += axle.spacing_m if i else 0.0
            positions.append(pos)
            if i and axle.spacing_m <= limit_m:
                units[-1].append(i)
            else:
                units.append([i])
        return cls(vehicle, profile, tuple(tuple(u) for u in units), tuple(positions))

    def span_m(self, first: int, last: int) -> float:
        """Distance between the extreme axles of units first..last."""
        return self.pos[self.units[last][-1]] - self.pos[self.units[first][0]]

    def is_tandem(self, first: int, last: int) -> bool:
        """Units first..last span at most 96 in (more than 40 in, as they are distinct units)."""
        return self.span_m(first, last) <= self.profile.tandem_span_in * M_PER_IN

    def is_tandem_pair(self, first: int, last: int) -> bool:
        """Units first..last are exactly two tandems (two units each) with a gap between."""
        return (
            last - first == 3
            and self.is_tandem(first, first + 1)
            and self.is_tandem(last - 1, last)
            and not self.is_tandem(first + 1, last - 1)
        )

    def window(self, first: int, last: int) -> Limit:
        """The tandem or Bridge Formula limit of units first..last."""
        axles = tuple(i for u in self.units[first : last + 1] for i in u)
        measured = kg(self.vehicle, axles)
        prof, art = self.profile, self.profile.articles
        if self.is_tandem(first, last):
            text = f"{art.tandem}: {prof.tandem_lb:,} lb"
            return Limit("group", axles, text, lb_to_kg(prof.tandem_lb), measured)
        length_ft = feet(self.span_m(first, last))
        w = bridge_lb(length_ft, len(axles), prof)
        text = f"{art.bridge}: L={length_ft} ft, N={len(axles)}: {w:,} lb"
        pair_ok = self.is_tandem_pair(first, last) and length_ft >= prof.tandem_pair_min_span_ft
        if pair_ok and prof.tandem_pair_lb > w:
            w = prof.tandem_pair_lb
            text = f"{art.tandem_pair}: {w:,} lb"
        return Limit("bridge", axles, text, lb_to_kg(w), measured)


def limits(vehicle: WeighedVehicle, profile: UsProfile) -> tuple[list[Limit], list[str]]:
    """Every federal limit that applies to the vehicle, and the assumptions made."""
    assumptions = list(profile.always_assumes)
    if not vehicle.axles:
        return [], [*assumptions, "no axles weighed: nothing to check"]
    layout = _Layout.of(vehicle, profile)
    units = layout.units
    out: list[Limit] = []
    in_tandem: set[int] = set()
    for first in range(len(units)):
        for last in range(first + 1, len(units)):
            limit = layout.window(first, last)
            if limit.kind == "group":
                in_tandem.update(range(first, last + 1))
            out.append(limit)
    single_kg = lb_to_kg(profile.single_axle_lb)
    single_text = f"{profile.articles.single}: {profile.single_axle_lb:,} lb"
    for k, unit in enumerate(units):
        if k not in in_tandem:
            out.append(Limit("axle", unit, single_text, single_kg, kg(vehicle, unit)))
    every = tuple(range(len(vehicle.axles)))
    gross_text = f"{profile.articles.gross}: {profile.gross_lb:,} lb"
    out.append(Limit("gross", every, gross_text, lb_to_kg(profile.gross_lb), kg(vehicle, every)))
    return out, assumptions
