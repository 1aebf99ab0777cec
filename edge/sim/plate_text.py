"""Plates of simulated vehicles: a valid region-cn text and colour per vehicle, by vehicle type.

Cars carry blue plates (some green new-energy ones), light trucks blue, buses and heavy goods
vehicles yellow, and some heavy trucks the two-row yellow plate. A share of plates is covered
(cloth, mud, a board): the video shows the plate but nothing readable, and truth says null.
Texts are unique within a scenario so that a plate read on the wrong vehicle is always a
mismatch against truth, never a lucky match.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from edge.sim.traffic import SimVehicle
from edge.sim.vehicles import VehicleType

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # I and O are not issued
DIGITS = "0123456789"
P_NEV = 0.18  # share of cars with a green new-energy plate
P_TWO_ROW = 0.25  # share of trucks with 3 axles or more that show the two-row plate


@dataclass(frozen=True)
class PlateSpec:
    """What a vehicle carries on its front: the plate text, its colour and layout."""

    text: str
    color: str  # blue, yellow, green (edge/sim/plates.py COLORS)
    two_row: bool = False
    covered: bool = False  # drawn as a plate whose characters cannot be seen

    @property
    def truth_text(self) -> str | None:
        """What truth.jsonl says: null when the plate is unreadable by design."""
        return None if self.covered else self.text

    @property
    def truth_color(self) -> str | None:
        """The colour truth.jsonl reports (null with the text)."""
        return None if self.covered else self.color


def _pick(rng: np.random.Generator, chars: str) -> str:
    return chars[int(rng.integers(len(chars)))]


def standard_text(rng: np.random.Generator) -> str:
    """皖A12345: province, issuing letter, five of letters/digits with at most two letters."""
    serial = [_pick(rng, DIGITS) for _ in range(5)]
    for pos in rng.choice(5, size=int(rng.choice(3, p=(0.5, 0.35, 0.15))), replace=False):
        serial[int(pos)] = _pick(rng, LETTERS)
    return _pick(rng, PROVINCES) + _pick(rng, LETTERS) + "".join(serial)


def nev_small_text(rng: np.random.Generator) -> str:
    """皖AD12345: new-energy small vehicle, D (electric) or F (hybrid) third."""
    fourth = _pick(rng, DIGITS if rng.random() < 0.7 else LETTERS)
    tail = "".join(_pick(rng, DIGITS) for _ in range(4))
    return _pick(rng, PROVINCES) + _pick(rng, LETTERS) + _pick(rng, "DF") + fourth + tail


def _style(kind: VehicleType, rng: np.random.Generator) -> tuple[str, str, bool]:
    """(format, colour, two_row) for a vehicle type."""
    if kind.name == "car":
        return ("nev", "green", False) if rng.random() < P_NEV else ("std", "blue", False)
    if kind.name == "light-truck":
        return "std", "blue", False
    two_row = kind.truck and kind.n_axles >= 3 and rng.random() < P_TWO_ROW
    return "std", "yellow", bool(two_row)


def draw_plate(
    kind: VehicleType, rng: np.random.Generator, covered_fraction: float, used: set[str]
) -> PlateSpec:
    """A plate for a vehicle of `kind`, its text not in `used` (which it is added to)."""
    fmt, color, two_row = _style(kind, rng)
    covered = bool(rng.random() < covered_fraction)
    while True:
        text = nev_small_text(rng) if fmt == "nev" else standard_text(rng)
        if text not in used:
            used.add(text)
            return PlateSpec(text, color, two_row, covered)


def assign_plates(
    vehicles: Sequence[SimVehicle],
    lanes: Collection[int],
    rng: np.random.Generator,
    covered_fraction: float,
) -> dict[int, PlateSpec]:
    """Plates for the vehicles on `lanes` (those a camera watches), by index in `vehicles`."""
    used: set[str] = set()
    return {
        i: draw_plate(v.body.kind, rng, covered_fraction, used)
        for i, v in enumerate(vehicles)
        if v.lane in lanes
    }
