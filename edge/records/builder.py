"""Build, sign and chain records (specs/records.md) and commit them to the outbox.

`RecordWriter.write` stamps the envelope (schema, type, UUIDv7 id, site, device, seq, prev,
time, clock, software), signs the JSON as a compact JWS and commits it in the same SQLite
transaction that advances the chain head: seq and prev are taken inside that transaction.

When the outbox is full (OutboxFullError), the record is not lost: the writer keeps it, unsigned
but with its id and time fixed, in a bounded memory queue (`max_held`), and commits the held
records, in order, before the next record on the next `write` or on `retry_pending()`. The
error still propagates so the caller knows the disk is full; `exc.held` is True when the
record was kept. Only when the memory queue is also full is a record refused with
`held=False`: the caller then owns it.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edge.outbox.errors import OutboxFullError
from edge.outbox.store import Append, Outbox, StoredRecord
from edge.records.evidence import EvidenceFile, write_evidence
from edge.records.ids import Uuid7Generator, is_uuid7
from edge.records.jws import encode_json, protected_header, sign_compact
from edge.records.keys import SigningKey

__all__ = [
    "SCHEMA_ID",
    "ClockInfo",
    "EvidenceFile",
    "RecordWriter",
    "rfc3339_ms",
    "write_evidence",
]

log = logging.getLogger(__name__)

SCHEMA_ID = "roadside.record/1"
ENVELOPE_FIELDS = frozenset(
    {"schema", "type", "id", "site", "device", "seq", "prev", "time", "clock", "software"}
)


@dataclass(frozen=True)
class ClockInfo:
    """How far the unit's clock can be trusted when a record is made."""

    source: str  # ntp | gps | rtc | replay
    synced: bool
    offset_ms: float | None


def rfc3339_ms(unix_ns: int) -> str:
    """RFC 3339 UTC with milliseconds (truncated, never rounded into the next second)."""
    sec, rem = divmod(unix_ns, 1_000_000_000)
    stamp = dt.datetime.fromtimestamp(sec, dt.UTC)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{rem // 1_000_000:03d}Z"


@dataclass(frozen=True)
class _Draft:
    """A record with its id and time fixed, waiting for its seq (and signature)."""

    record_id: str
    record_type: str
    fields: dict[str, Any]  # every field after the envelope's seq/prev
    created_ns: int
    evidence: tuple[EvidenceFile, ...]


class RecordWriter:
    """Signs records with the unit's key and appends them to the outbox, in one chain."""

    # The signature is the interface the pipeline and replay code against (positional).
    def __init__(  # noqa: PLR0917
        self,
        outbox: Outbox,
        key: SigningKey,
        site: str,
        device: str,
        software_version: str,
        models: Mapping[str, str],
        clock_info: Callable[[], ClockInfo],
        now_ns: Callable[[], int],
        *,
        max_held: int = 10_000,
    ) -> None:
        """`now_ns` is Unix time in ns (ids and created times); `models` maps a model's name
        to the sha256 of its file; `max_held` bounds records kept in memory on a full disk."""
        self._outbox = outbox
        self._key = key
        self._header = protected_header(key.kid)
        self._site = site
        self._device = device
        self._software = {"version": software_version, "models": dict(models)}
        self._clock_info = clock_info
        self._now_ns = now_ns
        self._ids = Uuid7Generator()
        self._held: collections.deque[_Draft] = collections.deque()
        self._max_held = max_held

    @property
    def held(self) -> int:
        """Records kept in memory because the outbox was full."""
        return len(self._held)

    def new_id(self) -> str:
        """A record id to use before writing: evidence goes to OUT/evidence/<id>/ first,
        then `write(..., record_id=id)`."""
        return self._ids.new(self._now_ns())

    def write(
        self,
        record_type: str,
        body: Mapping[str, Any],
        event_time_ns: int,
        evidence: Sequence[EvidenceFile] = (),
        *,
        record_id: str | None = None,
    ) -> StoredRecord:
        """Build, sign and commit one record (after any held ones); returns it as stored.

        `event_time_ns` is Unix time in ns of the observed event. Evidence files must already
        be written (write_evidence); they become the record's `evidence` list (replacing one
        in `body`). Raises OutboxFullError on a full disk (see module doc),
        ValueError if `body` overrides an envelope field or holds a non-JSON value.
        """
        draft = self._draft(record_type, body, event_time_ns, evidence, record_id)
        return self._write_drafts([draft])[-1]

    def write_many(
        self,
        items: Sequence[tuple[str, Mapping[str, Any], int, Sequence[EvidenceFile]]],
        record_ids: Sequence[str | None] | None = None,
    ) -> list[StoredRecord]:
        """Several records in one transaction (one fsync): for bursts. Same rules as write.

        `record_ids`, one per item (None: a fresh id), are ids taken with new_id() for records
        whose evidence was written under OUT/evidence/<id>/ first.
        """
        ids = list(record_ids) if record_ids is not None else [None] * len(items)
        if len(ids) != len(items):
            raise ValueError(f"{len(items)} records but {len(ids)} record ids")
        return self._write_drafts(
            [self._draft(t, b, ns, ev, rid) for (t, b, ns, ev), rid in zip(items, ids, strict=True)]
        )

    def _write_drafts(self, drafts: list[_Draft]) -> list[StoredRecord]:
        for d in drafts:
            # Fail on a bad body now, before anything is held or committed.
            encode_json({**d.fields, "seq": 1, "prev": None})
        # Held records go first, in the same transaction, so seq follows creation order.
        batch = [*self._held, *drafts]
        try:
            stored = self._commit(batch)
        except OutboxFullError as exc:
            raise self._hold(drafts, exc) from exc
        if self._held:
            log.warning("records held during a full disk committed count=%d", len(self._held))
            self._held.clear()
        return stored[len(stored) - len(drafts) :]

    def retry_pending(self) -> list[StoredRecord]:
        """Commit records held after a full disk; returns those committed now. Quietly keeps
        them held if the outbox is still full."""
        if not self._held:
            return []
        try:
            return self._flush_held()
        except OutboxFullError:
            return []

    def _flush_held(self) -> list[StoredRecord]:
        drafts = list(self._held)
        stored = self._commit(drafts)
        self._held.clear()
        log.warning("records held during a full disk committed count=%d", len(stored))
        return stored

    def _hold(self, drafts: list[_Draft], exc: OutboxFullError) -> OutboxFullError:
        if len(self._held) + len(drafts) > self._max_held:
            log.error(
                "record not kept: outbox full and %d records already held in memory",
                len(self._held),
            )
            return OutboxFullError(
                f"{exc}; {len(self._held)} records held in memory, no room for more", held=False
            )
        self._held.extend(drafts)
        return OutboxFullError(f"{exc}; {len(self._held)} records held in memory", held=True)

    def _draft(
        self,
        record_type: str,
        body: Mapping[str, Any],
        event_time_ns: int,
        evidence: Sequence[EvidenceFile],
        record_id: str | None,
    ) -> _Draft:
        clash = ENVELOPE_FIELDS.intersection(body)
        if clash:
            raise ValueError(f"record body must not set envelope fields {sorted(clash)}")
        now = self._now_ns()
        if record_id is None:
            record_id = self._ids.new(now)
        elif not is_uuid7(record_id):
            raise ValueError(f"record id {record_id!r} is not a UUIDv7 (use new_id())")
        clock = self._clock_info()
        fields: dict[str, Any] = {
            "time": rfc3339_ms(event_time_ns),
            "clock": {"source": clock.source, "synced": clock.synced, "offset_ms": clock.offset_ms},
            "software": self._software,
            **body,
        }
        if evidence:  # the files written win over any placeholder list in the body
            fields["evidence"] = [e.as_record_entry() for e in evidence]
        return _Draft(record_id, record_type, fields, now, tuple(evidence))

    def _commit(self, drafts: Sequence[_Draft]) -> list[StoredRecord]:
        return self._outbox.append_many(
            [Append(self._signer(d), d.created_ns, d.evidence) for d in drafts]
        )

    def _signer(self, draft: _Draft) -> Callable[[int, str | None], tuple[str, str, str]]:
        def make(seq: int, prev: str | None) -> tuple[str, str, str]:
            record = {
                "schema": SCHEMA_ID,
                "type": draft.record_type,
                "id": draft.record_id,
                "site": self._site,
                "device": self._device,
                "seq": seq,
                "prev": prev,
                **draft.fields,
            }
            jws = sign_compact(encode_json(record), self._key, self._header)
            return draft.record_id, draft.record_type, jws

        return make
