"""Table-driven vehicle classification: China axle configuration and FHWA 13 classes.

The tables live in edge/wim/data/vehicle_classes.yaml (documented there); this module only reads
and applies them. classify() returns one VehicleClass per scheme: "cn-axles" then "fhwa13".
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import Field, ValidationError

from edge.config.base import ConfigModel
from edge.wim.model import VehicleClass, WeighedVehicle

Bound = float | Literal["G"]


class FhwaRule(ConfigModel):
    """One row of the FHWA decision table."""

    cls: str = Field(alias="class", description="FHWA class 1..13")
    note: str = Field("", description="what vehicle the row describes")
    spacings: list[tuple[Bound, Bound]] = Field(
        min_length=1, description="per spacing [lo, hi) in metres; 'G' = group spacing"
    )
    max_gross_kg: float | None = Field(None, gt=0, description="only vehicles lighter than this")


class FhwaTable(ConfigModel):
    """The FHWA 13-class table."""

    names: dict[str, str] = Field(description="class -> name")
    rules: list[FhwaRule] = Field(description="tried in order, first match wins")
    fallback: dict[int, str] = Field(description="axle count -> class when no rule matches")


class ClassTables(ConfigModel):
    """The whole data file."""

    cn_axles: dict[str, str] = Field(description="group configuration -> description")
    fhwa13: FhwaTable = Field(description="FHWA 13 classes")


@cache
def tables() -> ClassTables:
    """The packaged tables (read once). A broken file is a bug of the package, not a user error."""
    text = resources.files("edge.wim.data").joinpath("vehicle_classes.yaml").read_text("utf-8")
    try:
        return ClassTables.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        raise RuntimeError(f"edge/wim/data/vehicle_classes.yaml is invalid: {exc}") from exc


def cn_axles(vehicle: WeighedVehicle, group_spacing_m: float = 2.1) -> VehicleClass:
    """Axle count and group configuration, e.g. code '6-1+2+3'."""
    groups = vehicle.groups(group_spacing_m)
    config = "+".join(str(len(g)) for g in groups)
    n = len(vehicle.axles)
    desc = tables().cn_axles.get(config, f"{n}-axle vehicle, axle groups {config}")
    return VehicleClass(scheme="cn-axles", code=f"{n}-{config}", description=desc)


def _bound(value: Bound, group_spacing_m: float) -> float:
    return group_spacing_m if value == "G" else float(value)


def _matches(rule: FhwaRule, vehicle: WeighedVehicle, group_spacing_m: float) -> bool:
    spacings = vehicle.spacings_m
    if len(spacings) != len(rule.spacings):
        return False
    if rule.max_gross_kg is not None and vehicle.gross_kg >= rule.max_gross_kg:
        return False
    return all(
        _bound(lo, group_spacing_m) <= s < _bound(hi, group_spacing_m)
        for s, (lo, hi) in zip(spacings, rule.spacings, strict=True)
    )


def fhwa13(vehicle: WeighedVehicle, group_spacing_m: float = 2.1) -> VehicleClass:
    """FHWA 13-class code by the Scheme F style table; by axle count when no row matches."""
    table = tables().fhwa13
    for rule in table.rules:
        if _matches(rule, vehicle, group_spacing_m):
            return VehicleClass("fhwa13", rule.cls, f"{table.names[rule.cls]} ({rule.note})")
    n = len(vehicle.axles)
    keys = [k for k in table.fallback if k <= n]
    if not keys:  # a lone axle is a detection fault, not a vehicle class
        return VehicleClass("fhwa13", "", "unclassified (fewer than 2 axles)")
    code = table.fallback[max(keys)]
    return VehicleClass("fhwa13", code, f"{table.names[code]} (by axle count)")


def classify(vehicle: WeighedVehicle, group_spacing_m: float = 2.1) -> tuple[VehicleClass, ...]:
    """One VehicleClass per scheme: ('cn-axles', 'fhwa13')."""
    return (cn_axles(vehicle, group_spacing_m), fhwa13(vehicle, group_spacing_m))
