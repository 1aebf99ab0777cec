"""The overload decision for one weighed vehicle under the site's rules."""

from __future__ import annotations

import logging

from edge.config.site import Rules
from edge.rules import china, eu, us
from edge.rules.model import Decision, Limit
from edge.rules.schema import ProfileInfo, load_us_profile
from edge.rules.tolerance import evaluate, policy_for
from edge.wim.model import WeighedVehicle

log = logging.getLogger(__name__)

US_PROFILE_FILE = "us-federal"


def _profile_limits(
    vehicle: WeighedVehicle, name: str, group_spacing_m: float
) -> tuple[ProfileInfo, list[Limit], list[str]]:
    if name == "cn":
        limits, assumptions = china.limits(vehicle, group_spacing_m)
        return china.profile(), limits, assumptions
    if name == "eu":
        limits, assumptions = eu.limits(vehicle, group_spacing_m)
        return eu.profile(), limits, assumptions
    # US limits follow the statutory axle definitions, not the site's group spacing.
    prof = load_us_profile(US_PROFILE_FILE)
    limits, assumptions = us.limits(vehicle, prof)
    return prof, limits, assumptions


def decide(vehicle: WeighedVehicle, rules: Rules, group_spacing_m: float = 2.1) -> Decision:
    """Evaluate every limit of the site's profile on the vehicle, tolerance applied.

    The vehicle is overloaded when any enforced check's tolerated value exceeds its limit.
    """
    info, limits, assumptions = _profile_limits(vehicle, rules.profile, group_spacing_m)
    policy = policy_for(rules.tolerance)
    n = len(vehicle.axles)
    checks = tuple(evaluate(limit, policy, n) for limit in limits)
    overloaded = any(c.overloaded and c.enforced for c in checks)
    if overloaded:
        log.debug("overloaded lane=%s t_ns=%s profile=%s", vehicle.lane, vehicle.t_ns, info.profile)
    return Decision(
        overloaded=overloaded,
        profile=info.profile,
        profile_version=info.version,
        checks=checks,
        assumptions=tuple(assumptions),
        tolerance=policy,
    )
