"""Measurement tolerance: how much a weighed load is reduced before it is compared to a limit.

Formula (every policy): tolerated_kg = floor(measured_kg * (100 - p) / 100), computed exactly in
rational arithmetic, where p is the percent for the kind of check. Rounding down favours the
driver, and exact arithmetic keeps the boundary exact: a vehicle whose tolerated value equals the
limit is legal, one kilogram more is overloaded (float arithmetic would put 20000 * 0.9 at
18000.000000000004 and flag it).

Accuracy classes:
- COST 323 (European WIM specification, 1999/2002), tolerance of the confidence interval delta
  in percent, for gross weight / group of axles / single axle / axle of a group.
- OIML R134-1 (2006) numeric classes: the in-service maximum permissible error for vehicle mass is
  the class value in percent (initial verification is half of it). R134 declares axle-load classes
  separately (A..F); the site configuration names only the vehicle class, so its percent is
  applied to every check (see docs/rules.md).
"""

from __future__ import annotations

import math
from fractions import Fraction

from edge.config.site import Tolerance
from edge.rules.model import Check, Limit, TolerancePolicy

# class: (gross, group of axles, single axle, axle of a group), percent
COST323: dict[str, tuple[float, float, float, float]] = {
    "A(5)": (5.0, 7.0, 8.0, 10.0),
    "B+(7)": (7.0, 10.0, 11.0, 14.0),
    "B(10)": (10.0, 13.0, 15.0, 20.0),
    "C(15)": (15.0, 18.0, 20.0, 25.0),
}

# class: in-service maximum permissible error for vehicle mass, percent (OIML R134-1, 2.2.1)
OIML_R134_IN_SERVICE: dict[str, float] = {
    "0.5": 0.5,
    "1": 1.0,
    "2": 2.0,
    "5": 5.0,
    "7": 7.0,
    "10": 10.0,
}


def policy_for(tolerance: Tolerance) -> TolerancePolicy:
    """The percents that a site's tolerance setting grants for each kind of check."""
    if tolerance.policy == "none":
        return TolerancePolicy(policy="none")
    if tolerance.policy == "percent":
        p = tolerance.percent
        return TolerancePolicy(
            policy="percent", gross_pct=p, group_pct=p, single_axle_pct=p, axle_of_group_pct=p
        )
    cls = tolerance.accuracy_class
    if cls in COST323:
        gross, group, single, of_group = COST323[cls]
        return TolerancePolicy(
            policy="accuracy_class",
            gross_pct=gross,
            group_pct=group,
            single_axle_pct=single,
            axle_of_group_pct=of_group,
            accuracy_class=cls,
            source="COST 323 (1999) table of tolerances delta, accuracy class " + cls,
        )
    p = OIML_R134_IN_SERVICE[cls]
    return TolerancePolicy(
        policy="accuracy_class",
        gross_pct=p,
        group_pct=p,
        single_axle_pct=p,
        axle_of_group_pct=p,
        accuracy_class=cls,
        source=f"OIML R134-1 (2006) class {cls}: in-service MPE {p} % of vehicle mass",
    )


def percent_for(limit: Limit, policy: TolerancePolicy, n_axles: int) -> float:
    """The percent granted for one limit, by what it weighs (whole vehicle, group, one axle)."""
    if limit.kind == "gross" or (limit.kind == "bridge" and len(limit.axles) == n_axles):
        return policy.gross_pct
    if limit.kind in ("group", "bridge"):
        return policy.group_pct
    return policy.axle_of_group_pct if limit.in_group else policy.single_axle_pct


def tolerated(measured_kg: int, percent: float) -> int:
    """floor(measured * (100 - percent) / 100), exactly (percent as written, e.g. 7.1)."""
    p = Fraction(str(percent))
    return math.floor(Fraction(measured_kg) * (100 - p) / 100)


def evaluate(limit: Limit, policy: TolerancePolicy, n_axles: int) -> Check:
    """Apply the tolerance to one limit: the tolerated value is what is compared."""
    pct = percent_for(limit, policy, n_axles)
    tol = tolerated(limit.measured_kg, pct)
    excess = tol - limit.limit_kg
    return Check(
        kind=limit.kind,
        axles=limit.axles,
        article=limit.article,
        limit_kg=limit.limit_kg,
        measured_kg=limit.measured_kg,
        tolerated_kg=tol,
        excess_kg=excess,
        excess_pct=round(100.0 * excess / limit.limit_kg, 2),
        overloaded=excess > 0,
        tolerance_pct=pct,
        enforced=limit.enforced,
    )
