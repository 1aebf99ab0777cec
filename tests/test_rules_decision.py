"""Decisions as records: JSON-ready, frozen, and never stricter than the law."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.config.site import Rules
from edge.rules import decide
from edge.wim.model import Axle, WeighedVehicle

LAYOUTS = {
    "2": [3.8],
    "1+2": [3.8, 1.35],
    "1+1+2": [3.5, 7.0, 1.85],
    "1+2+2": [3.6, 1.35, 6.5, 1.35],
    "1+1+3": [3.6, 6.5, 1.31, 1.31],
    "1+2+3": [3.3, 1.35, 7.2, 1.31, 1.31],
    "2+1+3": [1.9, 3.1, 7.0, 1.31, 1.31],
    "1+1+1+1": [4.0, 5.0, 4.5],
}


def truck(loads: list[float], spacings: list[float]) -> WeighedVehicle:
    """A vehicle with these axle loads (kg) and spacings (m, from the previous axle)."""
    axles = tuple(Axle(load, s) for load, s in zip(loads, [0.0, *spacings], strict=True))
    return WeighedVehicle(lane=1, t_ns=0, speed_kmh=70.0, axles=axles, calibration_id="t")


@pytest.mark.parametrize("profile", ["cn", "us", "eu"])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_none_invented_every_limit_holds_exactly_and_breaks_one_kg_above(
    profile: str, layout: str
) -> None:
    """For every check: load its axles with exactly its limit (others light): it passes with
    zero excess; one kilogram more fails it. No limit is stricter than the profile says."""
    spacings = LAYOUTS[layout]
    n = len(spacings) + 1
    rules = Rules(profile=profile)
    probe = decide(truck([500.0] * n, spacings), rules)
    assert probe.checks
    for check in probe.checks:
        loads = [300.0] * n
        total = check.limit_kg
        each = total // len(check.axles)
        for i in check.axles:
            loads[i] = float(each)
        loads[check.axles[0]] += total - each * len(check.axles)
        at = next(
            c
            for c in decide(truck(loads, spacings), rules).checks
            if (c.kind, c.axles) == (check.kind, check.axles)
        )
        assert at.excess_kg == 0, (profile, layout, check)
        assert not at.overloaded
        loads[check.axles[0]] += 1
        above = next(
            c
            for c in decide(truck(loads, spacings), rules).checks
            if (c.kind, c.axles) == (check.kind, check.axles)
        )
        assert above.overloaded
        assert above.excess_kg == 1


@pytest.mark.parametrize("profile", ["cn", "us", "eu"])
def test_decisions_are_json_ready_and_frozen(profile: str) -> None:
    d = decide(truck([8000, 12000, 12000], [3.8, 1.35]), Rules(profile=profile))
    text = json.dumps(d.to_record(), ensure_ascii=False)
    back = json.loads(text)
    assert back["profile"] == d.profile
    assert back["profile_version"] == d.profile_version
    assert back["assumptions"] == list(d.assumptions)
    assert len(back["failing"]) == len(d.failing)
    if d.overloaded:
        assert back["governing"]["article"]
        assert back["excess_kg"] > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.overloaded = False  # type: ignore[misc]


def test_legal_vehicle_record_has_no_governing_check() -> None:
    d = decide(truck([6000, 9000], [3.8]), Rules(profile="cn"))
    record = d.to_record()
    assert record["overloaded"] is False
    assert record["governing"] is None
    assert record["failing"] == []
    assert record["checks_evaluated"] == len(d.checks) > 0


@settings(max_examples=60, deadline=None)
@given(
    profile=st.sampled_from(["cn", "us", "eu"]),
    layout=st.sampled_from(sorted(LAYOUTS)),
    base=st.integers(min_value=1000, max_value=15000),
    extra=st.integers(min_value=0, max_value=5000),
    which=st.integers(min_value=0, max_value=7),
)
def test_more_load_never_turns_a_violation_legal(
    profile: str, layout: str, base: int, extra: int, which: int
) -> None:
    spacings = LAYOUTS[layout]
    n = len(spacings) + 1
    loads = [float(base)] * n
    heavier = list(loads)
    heavier[which % n] += extra
    rules = Rules(profile=profile)
    before, after = decide(truck(loads, spacings), rules), decide(truck(heavier, spacings), rules)
    assert not before.overloaded or after.overloaded
    assert before.overloaded == any(c.overloaded and c.enforced for c in before.checks)
