"""The stages after the scale: rules, fusion and records, shared by `edge run` and `edge replay`.

`VehiclePipeline.process` takes one weighed vehicle and leaves its signed records in the outbox
before it returns; nothing here knows whether the bytes came from a port or a capture.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.config.site import SiteConfig
from edge.fusion import Observation, PlateReading, vehicle_body, violation_body
from edge.outbox.errors import OutboxFullError
from edge.outbox.store import StoredRecord
from edge.records.builder import RecordWriter
from edge.records.evidence import EvidenceFile
from edge.rules import decide
from edge.wim.model import WeighedVehicle

log = logging.getLogger(__name__)

# (type, body, event time in Unix ns, evidence files): one record for RecordWriter.write_many.
RecordItem = tuple[str, dict[str, Any], int, tuple[EvidenceFile, ...]]
PlateLookup = Callable[[WeighedVehicle], PlateReading | None]


@dataclass
class PipelineCounts:
    """What the pipeline produced, for summary.json and health."""

    vehicles: int = 0
    violations: int = 0
    plates_read: int = 0
    records: int = 0
    held: int = 0  # records the outbox could not take at once (full disk)
    by_lane: Counter[int] = field(default_factory=Counter)


class VehiclePipeline:
    """Decide, fuse and record each weighed vehicle."""

    def __init__(
        self,
        site: SiteConfig,
        writer: RecordWriter,
        t0_unix_ns: int,
        plate_lookup: PlateLookup | None = None,
        on_record: Callable[[StoredRecord], None] | None = None,
    ) -> None:
        self.site = site
        self.writer = writer
        self.t0_unix_ns = t0_unix_ns
        self.plate_lookup = plate_lookup
        self.on_record = on_record
        self.counts = PipelineCounts()

    def process(self, vehicle: WeighedVehicle) -> Observation:
        """Weighed vehicle in; its `vehicle` and (if overloaded) `violation` records stored."""
        group_spacing = self.site.wim.group_spacing_m
        decision = decide(vehicle, self.site.rules, group_spacing)
        plate = self.plate_lookup(vehicle) if self.plate_lookup is not None else None
        obs = Observation(vehicle, decision, plate, group_spacing)
        event_ns = self.t0_unix_ns + vehicle.t_ns
        self.counts.vehicles += 1
        self.counts.by_lane[vehicle.lane] += 1
        if plate is not None:
            self.counts.plates_read += 1
        items: list[RecordItem] = []
        if self.site.rules.report_vehicles:
            items.append(("vehicle", vehicle_body(obs), event_ns, ()))
        if obs.overloaded:
            self.counts.violations += 1
            items.append(("violation", violation_body(obs), event_ns, ()))
            log.info(
                "violation lane=%d gross_kg=%d rule=%s",
                vehicle.lane,
                round(vehicle.gross_kg),
                decision.profile,
            )
        if items:
            self._write(items)
        return obs

    def _write(self, items: list[RecordItem]) -> None:
        """Sign and store a vehicle's records in one transaction (both or neither, one fsync);
        on a full disk the writer holds them in memory and retries."""
        try:
            records = self.writer.write_many(items)
        except OutboxFullError as exc:
            self.counts.held += len(items)
            kinds = "+".join(t for t, *_ in items)
            if exc.held:
                log.warning("outbox full: %s held in memory for retry: %s", kinds, exc)
            else:
                # Memory for held records is exhausted too: nothing more can be kept.
                body = items[0][1]
                log.error(
                    "outbox full and retry memory exhausted: %s lost lane=%s gross_kg=%s",
                    kinds,
                    body.get("lane"),
                    body.get("gross_kg"),
                )
            return
        for record in records:
            self._emit(record)

    def _emit(self, record: StoredRecord) -> None:
        self.counts.records += 1
        if self.on_record is not None:
            self.on_record(record)
