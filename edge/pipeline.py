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
from edge.rules import decide
from edge.wim.model import WeighedVehicle

log = logging.getLogger(__name__)

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
        if self.site.rules.report_vehicles:
            self._write("vehicle", vehicle_body(obs), event_ns)
        if obs.overloaded:
            self.counts.violations += 1
            self._write("violation", violation_body(obs), event_ns)
            log.info(
                "violation lane=%d gross_kg=%d rule=%s",
                vehicle.lane,
                round(vehicle.gross_kg),
                decision.profile,
            )
        return obs

    def _write(self, record_type: str, body: dict[str, Any], event_ns: int) -> None:
        """Sign and store; on a full disk the writer holds the record in memory and retries."""
        try:
            record = self.writer.write(record_type, body, event_ns)
        except OutboxFullError as exc:
            self.counts.held += 1
            if exc.held:
                log.warning("outbox full: %s record held in memory for retry: %s", record_type, exc)
            else:
                # Memory for held records is exhausted too: nothing more can be kept.
                log.error(
                    "outbox full and retry memory exhausted: %s record lost lane=%s gross_kg=%s",
                    record_type,
                    body.get("lane"),
                    body.get("gross_kg"),
                )
            return
        self.counts.records += 1
        if self.on_record is not None:
            self.on_record(record)
