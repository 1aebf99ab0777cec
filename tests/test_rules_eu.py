"""EU profile: 96/53/EC Annex I axle, group and gross weights."""

from __future__ import annotations

import pytest

from edge.config.site import Rules
from edge.rules import decide
from edge.wim.model import Axle, WeighedVehicle

EU = Rules(profile="eu")


def truck(loads: list[float], spacings: list[float]) -> WeighedVehicle:
    """A vehicle with these axle loads (kg) and spacings (m, from the previous axle)."""
    axles = tuple(Axle(load, s) for load, s in zip(loads, [0.0, *spacings], strict=True))
    return WeighedVehicle(lane=1, t_ns=0, speed_kmh=80.0, axles=axles, calibration_id="t")


def test_five_axle_articulated_40_t_and_44_t_behind_a_three_axle_tractor() -> None:
    two_axle_tractor = [3.6, 6.5, 1.31, 1.31]  # 1+1+3
    legal = decide(truck([7000, 11500, 7167, 7167, 7166], two_axle_tractor), EU)
    assert not legal.overloaded  # 40 000 kg exactly
    over = decide(truck([7001, 11500, 7167, 7167, 7166], two_axle_tractor), EU)
    assert over.worst is not None
    assert over.worst.kind == "gross"
    assert over.worst.limit_kg == 40000
    three_axle_tractor = [3.6, 1.35, 6.5, 1.35]  # 1+2+2, ISO container assumed
    d = decide(truck([7000, 9000, 9000, 9000, 9000], three_axle_tractor), EU)  # 43 t
    assert not d.overloaded
    assert any("ISO container" in a for a in d.assumptions)


@pytest.mark.parametrize(
    ("d_m", "limit"),
    [(0.9, 11500), (1.0, 16000), (1.29, 16000), (1.3, 19000), (1.79, 19000), (1.85, 20000)],
)
def test_tandem_limit_by_axle_spacing(d_m: float, limit: int) -> None:
    half = limit // 2
    v = truck([6000, 10000, half, limit - half], [3.6, 7.0, d_m])
    tandem = next(c for c in decide(v, EU).checks if c.axles == (2, 3))
    assert tandem.kind == "group"
    assert tandem.limit_kg == limit
    assert not tandem.overloaded
    heavier = truck([6000, 10000, half, limit - half + 1], [3.6, 7.0, d_m])
    assert decide(heavier, EU).overloaded  # axle limits are enforced in the EU


@pytest.mark.parametrize(("d_m", "limit"), [(1.25, 21000), (1.3, 21000), (1.35, 24000)])
def test_tri_axle_limit_by_axle_spacing(d_m: float, limit: int) -> None:
    v = truck([7000, 11000, 7000, 7000, 7000], [3.6, 6.5, d_m, d_m])
    tri = next(c for c in decide(v, EU).checks if c.axles == (2, 3, 4))
    assert tri.limit_kg == limit


def test_trailer_single_axle_is_non_driving_10_t() -> None:
    road_train = [4.0, 5.0, 4.5]  # 1+1+1+1: lorry and a two-axle drawbar trailer
    ok = decide(truck([7000, 11500, 10000, 7500], road_train), EU)
    assert not ok.overloaded
    over = decide(truck([7000, 11500, 10001, 7500], road_train), EU)
    assert over.worst is not None
    assert (over.worst.kind, over.worst.axles, over.worst.limit_kg) == ("axle", (2,), 10000)
    assert "3.1" in over.worst.article


def test_seven_axles_have_no_annex_i_gross_limit_and_say_so() -> None:
    v = truck([8000] * 7, [3.6, 1.35, 6.0, 1.31, 1.31, 1.31])
    d = decide(v, EU)
    assert not any(c.kind == "gross" for c in d.checks)
    assert any("seven or more axles" in a for a in d.assumptions)
