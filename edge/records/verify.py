"""Check a stream of records from the records alone: signatures, seq, prev chain, duplicates,
evidence digests. Used by `edge verify` and by tests; receivers can run the same checks.

Faults are named with the line (1-based) and seq, one Fault each:
  malformed, bad_header, unknown_key, bad_signature, bad_record   (one record)
  conflicting_duplicate (same id, different bytes), seq_reused (same seq, another id)
  seq_gap (seqs missing), out_of_order (a record placed after a later one), broken_chain
  (prev is not the SHA-256 of the previous seq's JWS), bad_start (first seq not 1, prev not
  null at seq 1), evidence_mismatch (size or SHA-256 differs from the record).
Byte-identical duplicates are allowed by the delivery rules and only counted.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.records.evidence import check_name, file_sha256
from edge.records.ids import is_uuid7
from edge.records.jws import DecodedJws, JwsError, decode_compact, jws_hash, verify_compact

SCHEMA_ID = "roadside.record/1"
_REQUIRED = ("schema", "type", "id", "site", "device", "seq", "prev", "time", "clock", "software")


@dataclass(frozen=True)
class Fault:
    """One problem found, where it is and what it is."""

    line: int | None
    seq: int | None
    record_id: str | None
    kind: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON form for --json output."""
        return {
            "line": self.line,
            "seq": self.seq,
            "id": self.record_id,
            "fault": self.kind,
            "message": self.message,
        }


@dataclass
class Report:
    """The outcome of a verification."""

    records: int = 0
    duplicates: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    kids: set[str] = field(default_factory=set)
    evidence_checked: int = 0
    evidence_absent: int = 0
    faults: list[Fault] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no fault was found."""
        return not self.faults

    def as_dict(self) -> dict[str, Any]:
        """JSON form for --json output."""
        return {
            "ok": self.ok,
            "records": self.records,
            "duplicates": self.duplicates,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "kids": sorted(self.kids),
            "evidence_checked": self.evidence_checked,
            "evidence_absent": self.evidence_absent,
            "faults": [f.as_dict() for f in self.faults],
        }


@dataclass(frozen=True)
class _Entry:
    line: int
    seq: int
    record_id: str
    prev: str | None
    digest: str  # jws_hash of the line: what the next record's prev must be


def _payload(decoded: DecodedJws) -> dict[str, Any]:
    record = json.loads(decoded.payload.decode("utf-8"))
    if not isinstance(record, dict):
        raise ValueError("payload is not a JSON object")
    return record


def _envelope_problem(record: Mapping[str, Any]) -> str | None:
    missing = [k for k in _REQUIRED if k not in record]
    if missing:
        return f"missing fields {missing}"
    if record["schema"] != SCHEMA_ID:
        return f"schema {record['schema']!r} is not {SCHEMA_ID!r}"
    seq = record["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return f"seq {seq!r} is not a positive integer"
    if not (record["prev"] is None or isinstance(record["prev"], str)):
        return "prev is neither null nor a string"
    if not isinstance(record["id"], str) or not is_uuid7(record["id"]):
        return f"id {record['id']!r} is not a UUIDv7"
    return None


class Verifier:
    """Feed JWS lines in order (`add`), then `finish()` for the stream-wide checks."""

    def __init__(
        self,
        keys: Mapping[str, Ed25519PublicKey],
        evidence_dir: Path | None = None,
        *,
        partial: bool = False,
    ) -> None:
        """`evidence_dir` holds <record_id>/<name> files; `partial` accepts a stream that
        starts after seq 1 (e.g. what a receiver kept since some date)."""
        self._keys = keys
        self._evidence_dir = evidence_dir
        self._partial = partial
        self.report = Report()
        self._by_id: dict[str, tuple[int, bytes]] = {}  # id -> (line, sha256 of the line)
        self._by_seq: dict[int, _Entry] = {}
        self._order: list[_Entry] = []

    def _fault(
        self, line: int | None, seq: int | None, rid: str | None, kind: str, msg: str
    ) -> None:
        self.report.faults.append(Fault(line, seq, rid, kind, msg))

    def add(self, line_no: int, jws: str) -> None:
        """Check one record (a line of records.jws)."""
        jws = jws.strip()
        self.report.records += 1
        try:
            decoded = verify_compact(jws, self._keys)
            signature_fault: JwsError | None = None
        except JwsError as exc:
            signature_fault = exc
            try:
                decoded = decode_compact(jws)
            except JwsError:
                self._fault(line_no, None, None, exc.kind, str(exc))
                return
        try:
            record = _payload(decoded)
        except ValueError as exc:
            kind = signature_fault.kind if signature_fault else "malformed"
            self._fault(line_no, None, None, kind, f"payload is not a JSON object ({exc})")
            return
        seq = record.get("seq") if isinstance(record.get("seq"), int) else None
        rid = record.get("id") if isinstance(record.get("id"), str) else None
        if signature_fault is not None:
            self._fault(line_no, seq, rid, signature_fault.kind, str(signature_fault))
        else:
            self.report.kids.add(str(decoded.header["kid"]))
        problem = _envelope_problem(record)
        if problem is not None:
            self._fault(line_no, seq, rid, "bad_record", problem)
            return
        assert seq is not None and rid is not None  # checked by _envelope_problem
        if signature_fault is None and decoded.header.get("typ") not in (
            None,
            "roadside-record+json",
        ):
            self._fault(line_no, seq, rid, "bad_header", f"typ {decoded.header['typ']!r}")
        self._track(line_no, seq, rid, record, jws)
        if signature_fault is None:
            self._check_evidence(line_no, seq, rid, record)

    def _track(self, line_no: int, seq: int, rid: str, record: dict[str, Any], jws: str) -> None:
        line_sha = hashlib.sha256(jws.encode("ascii")).digest()
        seen = self._by_id.get(rid)
        if seen is not None:
            if seen[1] == line_sha:
                self.report.duplicates += 1
            else:
                self._fault(
                    line_no,
                    seq,
                    rid,
                    "conflicting_duplicate",
                    f"id {rid} already on line {seen[0]} with different content",
                )
            return
        self._by_id[rid] = (line_no, line_sha)
        entry = _Entry(line_no, seq, rid, record["prev"], jws_hash(jws))
        other = self._by_seq.get(seq)
        if other is not None:
            self._fault(
                line_no,
                seq,
                rid,
                "seq_reused",
                f"seq {seq} already used by id {other.record_id} on line {other.line}",
            )
            return
        self._by_seq[seq] = entry
        self._order.append(entry)

    def _check_evidence(self, line_no: int, seq: int, rid: str, record: dict[str, Any]) -> None:
        items = record.get("evidence")
        if not isinstance(items, list):
            return
        for item in items:
            try:
                name = check_name(str(item["name"]))
                want_sha, want_bytes = str(item["sha256"]), int(item["bytes"])
            except (KeyError, TypeError, ValueError) as exc:
                self._fault(line_no, seq, rid, "bad_record", f"evidence entry {item!r}: {exc}")
                continue
            path = None if self._evidence_dir is None else self._evidence_dir / rid / name
            if path is None or not path.is_file():
                self.report.evidence_absent += 1
                continue
            self.report.evidence_checked += 1
            sha, size = file_sha256(path)
            if (sha, size) != (want_sha, want_bytes):
                self._fault(
                    line_no,
                    seq,
                    rid,
                    "evidence_mismatch",
                    f"{path}: {size} bytes sha256 {sha[:16]}..., record says "
                    f"{want_bytes} bytes sha256 {want_sha[:16]}...",
                )

    def finish(self) -> Report:
        """Stream-wide checks: start, order, gaps, chain. Returns the report."""
        if not self._order:
            return self.report
        seqs = sorted(self._by_seq)
        self.report.first_seq, self.report.last_seq = seqs[0], seqs[-1]
        self._check_start(seqs[0])
        self._check_order()
        self._check_gaps(seqs)
        self._check_chain(seqs)
        self.report.faults.sort(key=lambda f: (f.line or 0, f.kind))
        return self.report

    def _check_start(self, first: int) -> None:
        entry = self._by_seq[first]
        if first == 1 and entry.prev is not None:
            self._fault(entry.line, 1, entry.record_id, "bad_start", "seq 1 must have prev null")
        if first > 1 and not self._partial:
            self._fault(
                entry.line,
                first,
                entry.record_id,
                "bad_start",
                f"stream starts at seq {first}: seq 1..{first - 1} missing "
                "(use --partial for a stream that starts later)",
            )

    def _check_order(self) -> None:
        for before, after in itertools.pairwise(self._order):
            if after.seq < before.seq:
                self._fault(
                    after.line,
                    after.seq,
                    after.record_id,
                    "out_of_order",
                    f"seq {after.seq} comes after seq {before.seq} (line {before.line})",
                )

    def _check_gaps(self, seqs: list[int]) -> None:
        for lo, hi in itertools.pairwise(seqs):
            if hi != lo + 1:
                a, b = self._by_seq[lo], self._by_seq[hi]
                missing = f"seq {lo + 1}" if hi == lo + 2 else f"seq {lo + 1}..{hi - 1}"
                self._fault(
                    b.line,
                    hi,
                    b.record_id,
                    "seq_gap",
                    f"{missing} missing (between line {a.line} and line {b.line})",
                )

    def _check_chain(self, seqs: list[int]) -> None:
        for seq in seqs:
            entry = self._by_seq[seq]
            before = self._by_seq.get(seq - 1)
            if before is not None and entry.prev != before.digest:
                self._fault(
                    entry.line,
                    seq,
                    entry.record_id,
                    "broken_chain",
                    f"prev does not match the SHA-256 of seq {seq - 1} (line {before.line})",
                )


def verify_lines(
    lines: Iterable[str],
    keys: Mapping[str, Ed25519PublicKey],
    evidence_dir: Path | None = None,
    *,
    partial: bool = False,
) -> Report:
    """Verify records, one compact JWS per line (blank lines are skipped)."""
    verifier = Verifier(keys, evidence_dir, partial=partial)
    for n, line in enumerate(lines, start=1):
        if line.strip():
            verifier.add(n, line)
    return verifier.finish()
