"""What the unit says about one vehicle: weights, decision and plate, as record bodies.

The record envelope (schema, id, seq, prev, time, clock, software) is added by the records
writer; this module only decides the type-specific fields of records.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from edge.rules import Decision
from edge.wim.model import WeighedVehicle


@dataclass(frozen=True)
class PlateReading:
    """The plate voted for a vehicle (or none)."""

    text: str
    color: str | None
    confidence: float


@dataclass(frozen=True)
class EvidenceImage:
    """An image to keep as evidence of a record, not yet written (see edge.records.evidence)."""

    name: str  # one path component, e.g. lane1_front-frame.jpg
    data: bytes
    media_type: str


class PlateFinding(Protocol):
    """What a plate lookup (edge.vision.lookup) found for one vehicle."""

    @property
    def plate(self) -> PlateReading | None:
        """The voted plate, or None when no plate could be read (never a guess)."""
        ...

    def evidence_images(self) -> list[EvidenceImage]:
        """Images for a violation record (encoded on demand: most vehicles need none)."""
        ...


@dataclass(frozen=True)
class Observation:
    """A weighed vehicle with its legal decision and plate: the input of the records."""

    vehicle: WeighedVehicle
    decision: Decision
    plate: PlateReading | None
    group_spacing_m: float

    @property
    def overloaded(self) -> bool:
        """Whether a violation record is due."""
        return self.decision.overloaded


def vehicle_body(obs: Observation) -> dict[str, Any]:
    """The fields of a `vehicle` record (records.md), units kg, m, km/h."""
    v = obs.vehicle
    groups = v.groups(obs.group_spacing_m)
    return {
        "lane": v.lane,
        "speed_kmh": round(v.speed_kmh, 1),
        "axles": [
            {
                "load_kg": round(a.load_kg),
                "spacing_m": round(a.spacing_m, 2),
                "left_kg": round(a.left_kg),
                "right_kg": round(a.right_kg),
            }
            for a in v.axles
        ],
        "groups": [
            {"axles": list(g), "load_kg": round(sum(v.axles[i].load_kg for i in g))} for g in groups
        ],
        "gross_kg": round(v.gross_kg),
        "class": [{"scheme": c.scheme, "code": c.code} for c in v.classes],
        "plate": (
            None
            if obs.plate is None
            else {
                "text": obs.plate.text,
                "color": obs.plate.color,
                "confidence": round(obs.plate.confidence, 3),
            }
        ),
        "quality": sorted(v.quality),
        "calibration": {"id": v.calibration_id},
        "overloaded": obs.decision.overloaded,
        "source": {"serial": v.source, "seq": v.seq},
    }


def violation_body(obs: Observation) -> dict[str, Any]:
    """The fields of a `violation` record: the vehicle fields plus the rule applied."""
    body = vehicle_body(obs)
    body["rule"] = obs.decision.to_record()
    body["evidence"] = []
    return body
