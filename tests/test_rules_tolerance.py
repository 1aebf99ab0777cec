"""Tolerance: the measured value is reduced before comparison, exactly at the boundary."""

from __future__ import annotations

import pytest

from edge.config.site import Rules
from edge.rules import decide
from edge.rules.tolerance import tolerated
from edge.wim.model import Axle, WeighedVehicle


def two_axle(gross_kg: int) -> WeighedVehicle:
    """A Chinese two-axle lorry (limit 18 000 kg) weighing `gross_kg`, light on each axle."""
    front = gross_kg // 2
    axles = (Axle(float(front), 0.0), Axle(float(gross_kg - front), 3.8))
    return WeighedVehicle(lane=1, t_ns=0, speed_kmh=60.0, axles=axles, calibration_id="t")


def rules(profile: str, **tol: object) -> Rules:
    """Rules of `profile` with a tolerance setting."""
    return Rules.model_validate({"profile": profile, "tolerance": tol})


@pytest.mark.parametrize(
    ("percent", "at_limit", "one_kg_more"),
    [(10, 20000, 20002), (5, 18948, 18949), (2.5, 18462, 18463)],
)
def test_percent_tolerance_boundary_is_exact(
    percent: float, at_limit: int, one_kg_more: int
) -> None:
    r = rules("cn", policy="percent", percent=percent)
    at = decide(two_axle(at_limit), r)
    gross = next(c for c in at.checks if c.kind == "gross")
    assert gross.tolerated_kg == 18000  # exactly the limit after tolerance: legal
    assert gross.measured_kg == at_limit
    assert not at.overloaded
    over = decide(two_axle(one_kg_more), r)
    gross = next(c for c in over.checks if c.kind == "gross")
    assert gross.tolerated_kg == 18001
    assert gross.excess_kg == 1
    assert over.overloaded
    record = over.to_record()
    assert record["measured_kg"] == one_kg_more
    assert record["tolerated_kg"] == 18001
    assert record["tolerance"]["policy"] == "percent"
    assert record["tolerance"]["percent"] == percent


def test_tolerated_is_exact_rational_arithmetic() -> None:
    assert tolerated(20000, 10) == 18000  # 20000 * 0.9 is 18000.000000000004 in floats
    assert tolerated(100000, 7.1) == 92900
    assert tolerated(18000, 0) == 18000


def test_cost323_class_grants_per_kind_tolerances() -> None:
    r = rules("eu", policy="accuracy_class", accuracy_class="A(5)")
    v = WeighedVehicle(
        lane=1,
        t_ns=0,
        speed_kmh=80.0,
        axles=(
            Axle(7000, 0),
            Axle(11000, 3.6),
            Axle(7000, 6.5),
            Axle(7000, 1.35),
            Axle(7000, 1.35),
        ),
        calibration_id="t",
    )
    d = decide(v, r)
    by_kind = {c.kind: c.tolerance_pct for c in d.checks}
    assert by_kind == {"axle": 8.0, "group": 7.0, "gross": 5.0}
    assert d.tolerance.to_record()["accuracy_class"] == "A(5)"


def test_oiml_class_uses_its_in_service_error() -> None:
    r = rules("cn", policy="accuracy_class", accuracy_class="2")
    d = decide(two_axle(18367), r)  # 18367 * 0.98 = 17999.66
    assert not d.overloaded
    assert decide(two_axle(18369), r).overloaded  # 18001.62
    assert d.tolerance.percent == 2.0
