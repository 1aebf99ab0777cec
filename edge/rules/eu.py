"""EU: Council Directive 96/53/EC Annex I, axle and gross weights in international traffic.

The limits are data (profiles/eu-96-53.yaml); the reading of axle groups is shared with the China
profile (edge.rules.axleload). Axle and group limits are enforced; the gross limit depends on the
axle count and what the configuration can be (rigid, articulated, road train, bus).
"""

from __future__ import annotations

from edge.rules import axleload
from edge.rules.model import Limit
from edge.rules.schema import AxleLoadProfile, load_axle_profile
from edge.wim.model import WeighedVehicle

PROFILE_FILE = "eu-96-53"


def profile() -> AxleLoadProfile:
    """The EU profile (loaded once)."""
    return load_axle_profile(PROFILE_FILE)


def limits(vehicle: WeighedVehicle, group_spacing_m: float) -> tuple[list[Limit], list[str]]:
    """Every Annex I limit that applies to the vehicle, and the assumptions made."""
    return axleload.limits(vehicle, profile(), group_spacing_m)
