"""Vehicle classes from axle spacings: China axle configuration and FHWA 13 classes."""

from __future__ import annotations

import numpy as np
import pytest

from edge.sim.vehicles import FLEET, draw_body
from edge.wim.classify import classify
from edge.wim.model import Axle, WeighedVehicle


def vehicle(loads: list[float], spacings: list[float]) -> WeighedVehicle:
    """A weighed vehicle with these axle loads and spacings (first spacing 0 is implied)."""
    axles = tuple(Axle(load, sp) for load, sp in zip(loads, [0.0, *spacings], strict=True))
    return WeighedVehicle(lane=1, t_ns=0, speed_kmh=60.0, axles=axles, calibration_id="test")


def codes(v: WeighedVehicle, group_spacing_m: float = 2.1) -> tuple[str, str]:
    """(cn-axles code, fhwa13 code)."""
    cn, fhwa = classify(v, group_spacing_m)
    assert (cn.scheme, fhwa.scheme) == ("cn-axles", "fhwa13")
    assert cn.description and fhwa.description
    return cn.code, fhwa.code


@pytest.mark.parametrize(
    ("loads", "spacings", "cn", "fhwa"),
    [
        ([180, 120], [1.45], "2-2", "1"),  # motorcycle: the short wheelbase is one group
        ([850, 700], [2.7], "2-1+1", "2"),  # car
        ([1500, 1800], [3.4], "2-1+1", "3"),  # pickup
        ([4500, 11000], [4.8], "2-1+1", "5"),  # 2-axle rigid truck
        ([6000, 9000], [7.5], "2-1+1", "4"),  # US-style coach
        ([6500, 9000, 9000], [4.5, 1.35], "3-1+2", "6"),  # 3-axle tipper
        ([6000, 10000, 9000], [3.5, 7.2], "3-1+1+1", "8"),  # 2S1
        ([6500, 6500, 9000, 9000], [1.9, 4.2, 1.35], "4-2+2", "7"),  # twin-steer 8x4
        ([6000, 11000, 9000, 9000], [3.5, 6.8, 1.35], "4-1+1+2", "8"),  # 2S2
        ([7000, 9000, 9000, 9000, 9000], [3.2, 1.35, 7.0, 1.35], "5-1+2+2", "9"),  # 3S2
        ([7000, 11000, 8000, 8000, 8000], [3.6, 6.5, 1.31, 1.31], "5-1+1+3", "9"),  # 2S3
        ([6000, 9000, 9000, 8000, 8000], [3.5, 7.0, 3.0, 7.0], "5-1+1+1+1+1", "11"),  # 2S1-2
        ([7000, 8000, 8000, 8000, 8000, 8000], [3.2, 1.35, 7.2, 1.31, 1.31], "6-1+2+3", "10"),
        ([7000, 8000, 8000, 8000, 8000, 8000], [3.2, 1.35, 7.0, 3.0, 7.0], "6-1+2+1+1+1", "12"),
    ],
)
def test_typical_vehicles(loads: list[float], spacings: list[float], cn: str, fhwa: str) -> None:
    assert codes(vehicle(loads, spacings)) == (cn, fhwa)


def test_seven_axles_fall_back_to_axle_count() -> None:
    cn, fhwa = classify(vehicle([7000] * 7, [3.2, 1.35, 7.0, 1.31, 1.31, 1.31]))
    assert cn.code == "7-1+2+4"
    assert fhwa.code == "13" and "by axle count" in fhwa.description


def test_group_spacing_decides_what_a_group_is() -> None:
    twin_steer = vehicle([6500, 6500, 9000, 9000], [2.0, 4.2, 1.35])
    assert codes(twin_steer, 2.1)[0] == "4-2+2"
    assert codes(twin_steer, 1.8)[0] == "4-1+1+2"


# simulated fleet type -> expected (cn-axles, fhwa13); None where spacings and weight overlap
EXPECTED = {
    "car": ("2-1+1", "2"),
    "light-truck": ("2-1+1", None),
    "bus": ("2-1+1", "5"),  # Chinese bus wheelbases are below Scheme F's 7.04 m bus bound
    "rigid-2": ("2-1+1", "5"),
    "rigid-3": ("3-1+2", "6"),
    "artic-3": ("3-1+1+1", "8"),
    "rigid-4": ("4-2+2", "7"),
    "artic-4": ("4-1+1+2", "8"),
    "artic-5": ("5-1+2+2", "9"),
    "artic-5-tridem": ("5-1+1+3", "9"),
    "artic-6": ("6-1+2+3", "10"),
}


def test_simulated_fleet_classifies_as_its_type() -> None:
    rng = np.random.default_rng(0)
    assert {t.name for t in FLEET} == set(EXPECTED)
    for kind in FLEET:
        cn, fhwa = EXPECTED[kind.name]
        assert cn == f"{kind.n_axles}-{kind.config}"
        for _ in range(40):
            body = draw_body(kind, rng, overload_fraction=0.3)
            got = codes(vehicle(list(body.loads_kg), list(body.spacings_m[1:])))
            assert got[0] == cn, kind.name
            if fhwa is not None:
                assert got[1] == fhwa, (kind.name, body)
