"""US federal profile: single axle, tandem, gross and the Bridge Formula (FHWA table)."""

from __future__ import annotations

import pytest

from edge.config.site import Rules
from edge.rules import decide
from edge.rules.schema import load_us_profile
from edge.rules.us import bridge_lb, lb_to_kg
from edge.wim.model import Axle, WeighedVehicle

US = Rules(profile="us")
LB = 0.45359237
FT = 0.3048
PROFILE = load_us_profile("us-federal")


def truck_lb(loads_lb: list[float], spacings_ft: list[float]) -> WeighedVehicle:
    """A vehicle given in pounds and feet, as US tables are."""
    axles = tuple(
        Axle(lb * LB, ft * FT) for lb, ft in zip(loads_lb, [0.0, *spacings_ft], strict=True)
    )
    return WeighedVehicle(lane=1, t_ns=0, speed_kmh=90.0, axles=axles, calibration_id="t")


@pytest.mark.parametrize(
    ("length_ft", "n", "expected_lb"),
    [
        (4, 2, 34000),  # a 4 ft tandem
        (48, 5, 78000),
        (51, 5, 80000),  # 79,875 rounds to 80,000
        (9, 3, 42500),  # 42,750: an exact half goes down, as in the FHWA table
        (10, 3, 43500),
        (11, 3, 44000),
        (36, 4, 66000),
        (20, 3, 51000),
    ],
)
def test_bridge_formula_matches_the_fhwa_table(length_ft: int, n: int, expected_lb: int) -> None:
    assert bridge_lb(length_ft, n, PROFILE) == expected_lb


def test_a_4_ft_tandem_carries_34000_lb_and_not_a_kilogram_more() -> None:
    limit_kg = lb_to_kg(34000)
    assert limit_kg == 15422  # 15,422.14 kg, to the nearest kilogram
    legal = decide(truck_lb([8000, 17000, 17000], [14, 4]), US)
    assert not legal.overloaded
    tandem = next(c for c in legal.checks if c.kind == "group")
    assert tandem.axles == (1, 2)
    assert tandem.limit_kg == limit_kg
    assert "34,000 lb" in tandem.article
    over = decide(truck_lb([8000, 17000, 17000 + 1 / LB], [14, 4]), US)  # +1 kg
    assert over.overloaded
    assert over.worst is not None
    assert over.worst.kind == "group"
    assert over.worst.excess_kg == 1


# 3-S2: steer, drive tandem, trailer tandem; the two tandems 36 ft apart overall, 48 ft in all
THREE_S2 = [12, 4, 28, 4]


def test_five_axles_over_48_ft_are_held_to_78000_lb() -> None:
    legal = decide(truck_lb([10000, 17000, 17000, 17000, 17000], THREE_S2), US)
    assert not legal.overloaded  # 78,000 lb: every limit met exactly, none invented
    whole = next(c for c in legal.checks if c.kind == "bridge" and len(c.axles) == 5)
    assert "L=48 ft, N=5: 78,000 lb" in whole.article
    assert whole.excess_kg == 0
    over = decide(truck_lb([10000 + 50 / LB, 17000, 17000, 17000, 17000], THREE_S2), US)
    assert over.overloaded
    failing = {(c.kind, c.axles) for c in over.failing}
    assert ("bridge", (0, 1, 2, 3, 4)) in failing
    assert ("gross", (0, 1, 2, 3, 4)) not in failing  # under 80,000 lb


def test_two_tandems_36_ft_apart_carry_34000_lb_each() -> None:
    d = decide(truck_lb([10000, 17000, 17000, 17000, 17000], THREE_S2), US)
    pair = next(c for c in d.checks if c.axles == (1, 2, 3, 4))
    assert pair.limit_kg == lb_to_kg(68000)  # the formula alone gives 66,000 lb
    assert "exception" in pair.article
    closer = decide(truck_lb([10000, 17000, 17000, 17000, 17000], [12, 4, 27, 4]), US)
    pair = next(c for c in closer.checks if c.axles == (1, 2, 3, 4))
    assert pair.overloaded  # 35 ft: no exception, 65,500 lb
    assert closer.overloaded


def test_five_axles_over_51_ft_are_capped_at_80000_lb() -> None:
    spacings = [14, 4.25, 28.5, 4.25]  # 51 ft
    at_cap = decide(truck_lb([12000, 17000, 17000, 17000, 17000], spacings), US)
    assert not at_cap.overloaded
    over = decide(truck_lb([12000 + 1 / LB, 17000, 17000, 17000, 17000], spacings), US)
    assert over.overloaded
    kinds = {c.kind for c in over.failing}
    assert kinds == {"gross", "bridge"}


def test_single_axle_20000_lb_and_axles_within_40_in_weigh_as_one() -> None:
    assert not decide(truck_lb([9000, 20000], [18]), US).overloaded
    over = decide(truck_lb([9000, 20000 + 1 / LB], [18]), US)
    assert over.worst is not None
    assert (over.worst.kind, over.worst.axles) == ("axle", (1,))
    close = decide(truck_lb([9000, 11000, 11000], [18, 3.0]), US)  # 36 in apart: one axle
    assert close.worst is not None
    assert (close.worst.kind, close.worst.axles) == ("axle", (1, 2))


def test_us_decisions_record_the_profile_and_assumptions() -> None:
    d = decide(truck_lb([10000, 17000, 17000], [14, 4]), US)
    assert d.profile == "us-federal-23cfr658"
    assert any("40 in" in a for a in d.assumptions)
