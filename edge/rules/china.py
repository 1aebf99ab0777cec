"""China: the 2016 over-limit rule (gross, by axle count and configuration) and GB 1589-2016.

The limits are data (profiles/cn-2016.yaml); the reading of axle groups is shared with the EU
profile (edge.rules.axleload). What is China-specific lives in the data: axle limits are advisory,
the gross limit is capped by the sum of the axle limits (art. 3 para 2 item 3), and a towing
vehicle with a single driving axle (second group of one axle) has 46 t instead of 49 t.
"""

from __future__ import annotations

from edge.rules import axleload
from edge.rules.model import Limit
from edge.rules.schema import AxleLoadProfile, load_axle_profile
from edge.wim.model import WeighedVehicle

PROFILE_FILE = "cn-2016"


def profile() -> AxleLoadProfile:
    """The China profile (loaded once)."""
    return load_axle_profile(PROFILE_FILE)


def limits(vehicle: WeighedVehicle, group_spacing_m: float) -> tuple[list[Limit], list[str]]:
    """Every China limit that applies to the vehicle, and the assumptions made."""
    return axleload.limits(vehicle, profile(), group_spacing_m)
