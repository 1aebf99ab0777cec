"""China profile: the 2016 over-limit rule's gross limits, with GB 1589-2016 axle limits."""

from __future__ import annotations

import pytest

from edge.config.site import Rules
from edge.rules import Decision, decide
from edge.wim.model import Axle, WeighedVehicle

CN = Rules(profile="cn")


def truck(loads: list[float], spacings: list[float]) -> WeighedVehicle:
    """A vehicle with these axle loads (kg) and spacings (m, from the previous axle)."""
    axles = tuple(Axle(load, s) for load, s in zip(loads, [0.0, *spacings], strict=True))
    return WeighedVehicle(lane=1, t_ns=0, speed_kmh=60.0, axles=axles, calibration_id="t")


def gross(d: Decision) -> int:
    (check,) = [c for c in d.checks if c.kind == "gross"]
    return check.limit_kg


# 1+2+3: steer, tandem drive, tridem semi-trailer (the common Chinese six-axle articulated)
SIX_TANDEM_DRIVE = [3.3, 1.35, 7.2, 1.31, 1.31]
# 2+1+3: twin steer, single drive (a 6x2 tractor), tridem semi-trailer
SIX_SINGLE_DRIVE = [1.9, 3.1, 7.0, 1.31, 1.31]


def test_six_axles_with_tandem_drive_are_legal_at_49_t_and_overloaded_one_kg_above() -> None:
    legal = decide(truck([7000, 9000, 9000, 8000, 8000, 8000], SIX_TANDEM_DRIVE), CN)
    assert not legal.overloaded
    assert gross(legal) == 49000
    assert any("46000" in a for a in legal.assumptions)  # says what a 6x2 tractor would get
    over = decide(truck([7001, 9000, 9000, 8000, 8000, 8000], SIX_TANDEM_DRIVE), CN)
    assert over.overloaded
    assert over.worst is not None
    assert over.worst.kind == "gross"
    assert over.worst.excess_kg == 1
    assert "第(八)项" in over.worst.article


def test_six_axles_behind_a_single_drive_axle_have_46_t() -> None:
    loads = [6500, 6500, 11000, 7300, 7300, 7400]  # 46000
    legal = decide(truck(loads, SIX_SINGLE_DRIVE), CN)
    assert gross(legal) == 46000
    assert not legal.overloaded
    heavier = decide(truck([*loads[:-1], 8400], SIX_SINGLE_DRIVE), CN)  # 47000
    assert heavier.overloaded
    assert heavier.worst is not None
    assert heavier.worst.excess_kg == 1000
    assert "46000" in heavier.worst.article
    # the same 47 t behind a tandem drive is legal: only the drive axle layout differs
    assert not decide(truck([7000, 9000, 9000, 7300, 7300, 7400], SIX_TANDEM_DRIVE), CN).overloaded


@pytest.mark.parametrize(
    ("spacings", "limit"),
    [
        ([3.8], 18000),  # two-axle lorry
        ([3.8, 1.35], 26000),  # three-axle rigid 1+2, air suspension assumed
        ([3.5, 7.5], 27000),  # three single axles: a combination
        ([1.9, 4.0, 1.35], 32000),  # four-axle rigid 2+2, air suspension assumed
        ([3.5, 7.0, 1.85], 37000),  # four-axle articulated, semi-trailer tandem >= 1.8 m
        ([3.5, 7.0, 1.35], 36000),  # four-axle articulated, tandem below 1.8 m
        ([3.5, 1.35, 7.0, 1.35], 43000),  # five axles
        ([3.3, 1.35, 7.2, 1.31, 1.31, 1.31], 49000),  # seven axles
    ],
)
def test_gross_limit_by_axle_count_and_configuration(spacings: list[float], limit: int) -> None:
    n = len(spacings) + 1
    light = truck([1000.0] * n, spacings)
    assert gross(decide(light, CN)) == limit
    share = [limit // n] * n
    share[0] += limit - sum(share)  # exactly the limit in total
    assert not decide(truck(share, spacings), CN).overloaded
    share[0] += 1
    assert decide(truck(share, spacings), CN).overloaded


def test_axle_limits_are_reported_but_do_not_make_a_violation() -> None:
    d = decide(truck([5000, 12500], [3.8]), CN)  # rear axle over 11.5 t, gross 17.5 t
    assert not d.overloaded
    assert d.worst is None
    (advisory,) = d.advisories
    assert advisory.kind == "axle"
    assert advisory.axles == (1,)
    assert advisory.excess_kg == 1000
    assert "GB 1589-2016" in advisory.article
    assert d.to_record()["advisories"][0]["enforced"] is False


def test_gross_limit_is_capped_by_the_sum_of_axle_limits() -> None:
    # 1+2 with a very close tandem (d < 1.0 m): 11500 + 11500 < 26000
    d = decide(truck([11000, 6000, 6001], [3.8, 0.9]), CN)
    assert gross(d) == 23000
    assert d.overloaded
    assert d.worst is not None
    assert "第三条第二款第(三)项" in d.worst.article


def test_what_the_scale_cannot_see_is_assumed_in_the_drivers_favour_and_said() -> None:
    d = decide(truck([7000, 9000, 9000], [3.8, 1.35]), CN)
    text = " ".join(d.assumptions)
    assert "3000 kg" in text  # no single-tyre reduction
    assert "air suspension" in text  # 26 t instead of 25 t
    assert d.profile == "cn-gb1589-2016"
    assert d.profile_version
