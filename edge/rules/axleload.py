"""Axle, group and gross limits of profiles that look like GB 1589 and 96/53/EC (China, EU).

The scale sees axle loads and spacings, not tyres, suspensions, which axle drives, or where the
motor vehicle ends and the trailer starts. Where the law depends on those, the limit that favours
the driver is used and the assumption is recorded with the decision.
"""

from __future__ import annotations

import math

from edge.rules.model import Limit
from edge.rules.schema import AxleLoadProfile, Band, GrossRule
from edge.wim.model import WeighedVehicle

Groups = tuple[tuple[int, ...], ...]


def kg(vehicle: WeighedVehicle, axles: tuple[int, ...]) -> int:
    """Measured load on `axles`, rounded half up to the kilogram (records use integers)."""
    return math.floor(sum(vehicle.axles[i].load_kg for i in axles) + 0.5)


def config_code(groups: Groups) -> str:
    """Group sizes front to back, e.g. '1+2+3' (the Chinese way of naming configurations)."""
    return "+".join(str(len(g)) for g in groups)


def group_d(vehicle: WeighedVehicle, group: tuple[int, ...]) -> float:
    """The group's axle spacing d: the largest spacing inside it (the larger d, the higher
    the limit, so unequal spacings are read in the driver's favour)."""
    return max(vehicle.axles[i].spacing_m for i in group[1:])


def _band(bands: list[Band], d: float) -> Band:
    for band in bands:
        if band.contains(d):
            return band
    return bands[-1]  # unreachable: the schema requires an open last band


class _Collector:
    """Limits and assumptions gathered while reading one vehicle."""

    def __init__(self) -> None:
        self.limits: list[Limit] = []
        self.assumptions: dict[str, None] = {}  # ordered set

    def assume(self, text: str | None) -> None:
        if text:
            self.assumptions[text] = None


def _single_limit(
    vehicle: WeighedVehicle, axle: int, group_no: int, profile: AxleLoadProfile, out: _Collector
) -> int:
    s = profile.single
    if group_no < s.driving_groups:
        out.assume(s.assumes_driving)
        limit, article = s.driving_kg, s.article_driving
    else:
        limit, article = s.non_driving_kg, s.article_non_driving
    enforced = profile.enforce_axle_limits
    out.limits.append(Limit("axle", (axle,), article, limit, kg(vehicle, (axle,)), enforced))
    return limit


def _group_limit(
    vehicle: WeighedVehicle, group: tuple[int, ...], profile: AxleLoadProfile, out: _Collector
) -> int:
    if len(group) > 3:
        # Neither GB 1589 nor 96/53/EC sets a limit for a group of 4+ axles: each axle is held
        # to the non-driving single-axle limit instead.
        out.assume(profile.larger_group_assumes.format(n=len(group)))
        s = profile.single
        for i in group:
            out.limits.append(
                Limit(
                    "axle",
                    (i,),
                    s.article_non_driving,
                    s.non_driving_kg,
                    kg(vehicle, (i,)),
                    profile.enforce_axle_limits,
                    in_group=True,
                )
            )
        return s.non_driving_kg * len(group)
    bands = profile.tandem if len(group) == 2 else profile.tridem
    band = _band(bands, group_d(vehicle, group))
    out.assume(band.assumes)
    measured = kg(vehicle, group)
    out.limits.append(
        Limit("group", group, band.article, band.limit_kg, measured, profile.enforce_axle_limits)
    )
    return band.limit_kg


def _matches(rule: GrossRule, vehicle: WeighedVehicle, groups: Groups) -> bool:
    n = len(vehicle.axles)
    checks = [
        rule.axles is None or n == rule.axles,
        rule.min_axles is None or n >= rule.min_axles,
        rule.max_axles is None or n <= rule.max_axles,
        rule.configs is None or config_code(groups) in rule.configs,
        rule.second_group_axles is None
        or (len(groups) > 1 and len(groups[1]) == rule.second_group_axles),
        rule.last_group_axles is None or len(groups[-1]) == rule.last_group_axles,
    ]
    if rule.last_group_min_spacing_m is not None:
        last = groups[-1]
        checks.append(len(last) > 1 and group_d(vehicle, last) >= rule.last_group_min_spacing_m)
    return all(checks)


def gross_rule(profile: AxleLoadProfile, vehicle: WeighedVehicle, groups: Groups) -> GrossRule:
    """The first gross rule of the profile that matches the vehicle."""
    for rule in profile.gross:
        if _matches(rule, vehicle, groups):
            return rule
    raise LookupError(f"{profile.profile}: no gross rule for {config_code(groups)}")


def _gross_limit(
    vehicle: WeighedVehicle,
    groups: Groups,
    profile: AxleLoadProfile,
    axle_sum_kg: int,
    out: _Collector,
) -> None:
    try:
        rule = gross_rule(profile, vehicle, groups)
    except LookupError:
        out.assume(f"no gross limit in {profile.profile} for {config_code(groups)}: not checked")
        return
    for text in rule.assumes:
        out.assume(text)
    if rule.limit_kg is None:
        return
    limit, article = rule.limit_kg, rule.article
    if profile.cap_gross_by_axle_sum and axle_sum_kg < limit:
        limit = axle_sum_kg
        article = f"{profile.cap_article} (sum of the axle limits; {rule.article}: {rule.limit_kg})"
    every = tuple(range(len(vehicle.axles)))
    out.limits.append(Limit("gross", every, article, limit, kg(vehicle, every)))


def limits(
    vehicle: WeighedVehicle, profile: AxleLoadProfile, group_spacing_m: float
) -> tuple[list[Limit], list[str]]:
    """Every limit of the profile that applies to the vehicle, and the assumptions made."""
    out = _Collector()
    for text in profile.always_assumes:
        out.assume(text)
    if not vehicle.axles:
        out.assume("no axles weighed: nothing to check")
        return out.limits, list(out.assumptions)
    groups = vehicle.groups(group_spacing_m)
    axle_sum = 0
    for group_no, group in enumerate(groups):
        if len(group) == 1:
            axle_sum += _single_limit(vehicle, group[0], group_no, profile, out)
        else:
            axle_sum += _group_limit(vehicle, group, profile, out)
    _gross_limit(vehicle, groups, profile, axle_sum, out)
    return out.limits, list(out.assumptions)
