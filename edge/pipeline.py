"""The stages after the scale: rules, fusion and records, shared by `edge run` and `edge replay`.

`VehiclePipeline.process` takes one weighed vehicle and leaves its signed records in the outbox
before it returns; nothing here knows whether the bytes came from a port or a capture.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.config.site import SiteConfig
from edge.fusion import Observation, PlateFinding, vehicle_body, violation_body
from edge.outbox.errors import OutboxFullError
from edge.outbox.store import StoredRecord
from edge.records.builder import RecordWriter
from edge.records.evidence import EvidenceDiskFullError, EvidenceFile, write_evidence
from edge.rules import decide
from edge.wim.model import WeighedVehicle

log = logging.getLogger(__name__)

# (type, body, event time in Unix ns, evidence files): one record for RecordWriter.write_many.
RecordItem = tuple[str, dict[str, Any], int, tuple[EvidenceFile, ...]]
# The plate (and evidence frames) of a vehicle; None when no camera watches its lane.
PlateLookup = Callable[[WeighedVehicle], PlateFinding | None]


@dataclass
class PipelineCounts:
    """What the pipeline produced, for summary.json and health."""

    vehicles: int = 0
    violations: int = 0
    plates_read: int = 0
    evidence_files: int = 0
    evidence_failed: int = 0  # violations recorded without (some of) their images: disk full
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
        *,
        evidence_dir: Path | None = None,
    ) -> None:
        """`evidence_dir`: where violation images go (<dir>/<record_id>/<name>); None keeps
        no images (violations then list no evidence)."""
        self.site = site
        self.writer = writer
        self.t0_unix_ns = t0_unix_ns
        self.plate_lookup = plate_lookup
        self.on_record = on_record
        self.evidence_dir = evidence_dir
        self.counts = PipelineCounts()

    def process(self, vehicle: WeighedVehicle) -> Observation:
        """Weighed vehicle in; its `vehicle` and (if overloaded) `violation` records stored."""
        return self.record(vehicle, self.lookup(vehicle))

    def lookup(self, vehicle: WeighedVehicle) -> PlateFinding | None:
        """The plate stage alone (may wait for camera frames): run it outside any writer lock."""
        return self.plate_lookup(vehicle) if self.plate_lookup is not None else None

    def record(self, vehicle: WeighedVehicle, found: PlateFinding | None) -> Observation:
        """Decide and store a vehicle's records with what the plate stage found."""
        group_spacing = self.site.wim.group_spacing_m
        decision = decide(vehicle, self.site.rules, group_spacing)
        plate = found.plate if found is not None else None
        obs = Observation(vehicle, decision, plate, group_spacing)
        event_ns = self.t0_unix_ns + vehicle.t_ns
        self.counts.vehicles += 1
        self.counts.by_lane[vehicle.lane] += 1
        if plate is not None:
            self.counts.plates_read += 1
        items: list[RecordItem] = []
        ids: list[str | None] = []
        if self.site.rules.report_vehicles:
            items.append(("vehicle", vehicle_body(obs), event_ns, ()))
            ids.append(None)
        if obs.overloaded:
            self.counts.violations += 1
            rid = self.writer.new_id()
            evidence = self._evidence(rid, found)
            items.append(("violation", violation_body(obs), event_ns, evidence))
            ids.append(rid)
            log.info(
                "violation lane=%d gross_kg=%d rule=%s evidence=%d",
                vehicle.lane,
                round(vehicle.gross_kg),
                decision.profile,
                len(evidence),
            )
        if items:
            self._write(items, ids)
        return obs

    def _evidence(self, record_id: str, found: PlateFinding | None) -> tuple[EvidenceFile, ...]:
        """Write (and fsync) a violation's images before its record is committed.

        A full disk or an I/O error costs the images, never the violation record itself.
        """
        if found is None or self.evidence_dir is None:
            return ()
        files: list[EvidenceFile] = []
        directory = self.evidence_dir / record_id
        for image in found.evidence_images():
            try:
                files.append(write_evidence(directory, image.name, image.data, image.media_type))
            except (EvidenceDiskFullError, OSError) as exc:
                self.counts.evidence_failed += 1
                log.error(
                    "violation %s recorded without evidence %s: %s", record_id, image.name, exc
                )
                break
        self.counts.evidence_files += len(files)
        return tuple(files)

    def _write(self, items: list[RecordItem], ids: list[str | None]) -> None:
        """Sign and store a vehicle's records in one transaction (both or neither, one fsync);
        on a full disk the writer holds them in memory and retries."""
        try:
            records = self.writer.write_many(items, ids)
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
