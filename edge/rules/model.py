"""Typed results of the overload rules: one `Check` per limit evaluated, one `Decision` per vehicle.

A profile module (china, us, eu) turns a vehicle into `Limit`s (what the law allows on which axles);
`edge.rules.tolerance` turns each `Limit` into a `Check` (measured, tolerated, excess); `decide`
bundles the checks into a `Decision`. Masses are integer kilograms throughout: the scale resolves
no better, and records want integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

CheckKind = Literal["gross", "axle", "group", "bridge"]


@dataclass(frozen=True)
class Limit:
    """One legal limit applied to a set of axles, before any tolerance."""

    kind: CheckKind
    axles: tuple[int, ...]  # 0-based axle indices, front to back
    article: str  # legal reference, quoted in the record
    limit_kg: int
    measured_kg: int
    enforced: bool = True  # False: evaluated and reported, but cannot make a vehicle overloaded
    in_group: bool = False  # an "axle" limit on one axle of a group (COST 323 "axle of a group")


@dataclass(frozen=True)
class Check:
    """A limit evaluated against the measured load, tolerance applied.

    `tolerated_kg` is the measured value reduced by the tolerance: the value compared to the limit.
    `excess_kg` and `excess_pct` are signed (negative: margin left below the limit).
    """

    kind: CheckKind
    axles: tuple[int, ...]
    article: str
    limit_kg: int
    measured_kg: int
    tolerated_kg: int
    excess_kg: int
    excess_pct: float
    overloaded: bool
    tolerance_pct: float = 0.0
    enforced: bool = True

    def to_record(self) -> dict[str, Any]:
        """JSON-ready form, as it appears in a violation record."""
        return {
            "kind": self.kind,
            "axles": list(self.axles),
            "article": self.article,
            "limit_kg": self.limit_kg,
            "measured_kg": self.measured_kg,
            "tolerance_pct": self.tolerance_pct,
            "tolerated_kg": self.tolerated_kg,
            "excess_kg": self.excess_kg,
            "excess_pct": self.excess_pct,
            "overloaded": self.overloaded,
            "enforced": self.enforced,
        }


@dataclass(frozen=True)
class TolerancePolicy:
    """The tolerance applied: the policy and the percent used for each kind of check."""

    policy: Literal["none", "percent", "accuracy_class"]
    gross_pct: float = 0.0
    group_pct: float = 0.0
    single_axle_pct: float = 0.0
    axle_of_group_pct: float = 0.0
    accuracy_class: str | None = None
    source: str = ""

    @property
    def percent(self) -> float:
        """The headline percent (the one applied to gross weight)."""
        return self.gross_pct

    def to_record(self) -> dict[str, Any]:
        """{"policy", "percent", ...}: what a reader of a record needs to redo the comparison."""
        out: dict[str, Any] = {"policy": self.policy, "percent": self.gross_pct}
        if self.policy == "accuracy_class":
            out["accuracy_class"] = self.accuracy_class
            out["percent_by_kind"] = {
                "gross": self.gross_pct,
                "group": self.group_pct,
                "single_axle": self.single_axle_pct,
                "axle_of_group": self.axle_of_group_pct,
            }
            out["source"] = self.source
        out["formula"] = "tolerated_kg = floor(measured_kg * (100 - percent) / 100)"
        return out


@dataclass(frozen=True)
class Decision:
    """The verdict on one vehicle under one profile: every check, and what had to be assumed."""

    overloaded: bool
    profile: str
    profile_version: str
    checks: tuple[Check, ...]
    assumptions: tuple[str, ...]
    tolerance: TolerancePolicy

    @property
    def failing(self) -> tuple[Check, ...]:
        """Enforced checks that are overloaded, most excessive first."""
        bad = [c for c in self.checks if c.overloaded and c.enforced]
        return tuple(sorted(bad, key=lambda c: (-c.excess_pct, -c.excess_kg)))

    @property
    def advisories(self) -> tuple[Check, ...]:
        """Checks over their limit that the profile does not enforce (reported, not a violation)."""
        return tuple(c for c in self.checks if c.overloaded and not c.enforced)

    @property
    def worst(self) -> Check | None:
        """The enforced overloaded check with the largest excess_pct; None when legal."""
        failing = self.failing
        return failing[0] if failing else None

    def to_record(self) -> dict[str, Any]:
        """The "rule" body of a violation record (JSON-ready)."""
        worst = self.worst
        governing = worst.to_record() if worst is not None else None
        return {
            "profile": self.profile,
            "profile_version": self.profile_version,
            "overloaded": self.overloaded,
            "article": worst.article if worst else None,
            "limit_kg": worst.limit_kg if worst else None,
            "measured_kg": worst.measured_kg if worst else None,
            "tolerated_kg": worst.tolerated_kg if worst else None,
            "excess_kg": worst.excess_kg if worst else None,
            "excess_pct": worst.excess_pct if worst else None,
            "tolerance": self.tolerance.to_record(),
            "governing": governing,
            "failing": [c.to_record() for c in self.failing],
            "advisories": [c.to_record() for c in self.advisories],
            "assumptions": list(self.assumptions),
            "checks_evaluated": len(self.checks),
        }
