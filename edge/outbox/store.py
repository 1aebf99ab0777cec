"""The durable outbox: SQLite in WAL mode with synchronous=FULL, one writer, one connection.

A record is appended with its seq and prev taken from the chain head, and the head is advanced,
in ONE transaction; a crash therefore never reuses a seq or breaks the chain. The head lives in
its own table, so it survives deleting delivered rows. A row leaves only when its delivery is
confirmed (`mark_delivered`) or when retention evicts it.

Retention: `OutboxConfig.max_bytes` bounds the stored JWS bytes and `min_free_bytes` is a floor
of free space on the filesystem. When either is crossed, undelivered records are evicted in the
order of EVICTION_ORDER (health, then vehicle statistics, ...), oldest first; violations go last,
and each one is logged at ERROR and reported as a warning: never silently.

A full disk (SQLITE_FULL, also the database's max_page_count) keeps the unit alive: the failed
write is rolled back, the ballast file is released so the WAL can be checkpointed, a warning is
raised, OutboxFullError tells the caller, and the outbox recovers by itself on a later write once
space is back (the ballast is then recreated).
"""

from __future__ import annotations

import collections
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.config.site import OutboxConfig
from edge.outbox.errors import OutboxCorruptError, OutboxFullError
from edge.records.evidence import EvidenceFile
from edge.records.jws import jws_hash

log = logging.getLogger(__name__)

# (seq, prev) -> (record id, record type, compact JWS)
MakeRecord = Callable[[int, str | None], tuple[str, str, str]]

# Evicted first to last; any type not named sits before "violation", which is always last.
EVICTION_ORDER = ("health", "vehicle", "road", "calibration")
_ROW_OVERHEAD = 160  # bytes of a row besides its JWS (ids, integers, evidence JSON estimate)
_ID_CHUNK = 500
_SCHEMA = """
CREATE TABLE IF NOT EXISTS chain(
    one INTEGER PRIMARY KEY CHECK (one = 1),
    seq INTEGER NOT NULL,
    hash TEXT
);
CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records(
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    jws TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    evidence TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_sent_ns INTEGER,
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS records_type_seq ON records(type, seq);
"""
_COLUMNS = "seq, id, type, jws, created_ns, evidence, attempts, last_sent_ns"


@dataclass(frozen=True)
class StoredRecord:
    """A signed record as it sits in the outbox."""

    seq: int
    id: str
    type: str
    jws: str
    created_ns: int
    evidence: tuple[EvidenceFile, ...]
    attempts: int
    last_sent_ns: int | None


@dataclass(frozen=True)
class OutboxStats:
    """What health reporting needs; cheap to take (counters are kept in memory)."""

    pending: int
    pending_violations: int
    oldest_pending_ns: int | None
    db_bytes: int
    evicted: int
    disk_full: bool
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Append:
    """One record to append in a batch: see Outbox.append_signed."""

    make: MakeRecord
    created_ns: int
    evidence: tuple[EvidenceFile, ...] = ()


def is_disk_full(exc: sqlite3.Error) -> bool:
    """True for SQLITE_FULL: the disk, or the database's max_page_count, is full."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (int(code) & 0xFF) == sqlite3.SQLITE_FULL
    return "database or disk is full" in str(exc)


def _evidence_json(evidence: Sequence[EvidenceFile]) -> str:
    return json.dumps(
        [
            {
                "name": e.name,
                "path": str(e.path),
                "sha256": e.sha256,
                "bytes": e.bytes,
                "media_type": e.media_type,
            }
            for e in evidence
        ],
        separators=(",", ":"),
    )


def _evidence_from_json(text: str) -> tuple[EvidenceFile, ...]:
    return tuple(
        EvidenceFile(d["name"], Path(d["path"]), d["sha256"], d["bytes"], d["media_type"])
        for d in json.loads(text)
    )


def _row_record(row: tuple[Any, ...]) -> StoredRecord:
    seq, rid, rtype, jws, created_ns, evidence, attempts, last_sent_ns = row
    return StoredRecord(
        seq, rid, rtype, jws, created_ns, _evidence_from_json(evidence), attempts, last_sent_ns
    )


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    batch: list[str] = []
    for rid in ids:
        batch.append(rid)
        if len(batch) == _ID_CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


class Outbox:
    """The durable store of signed records; safe to share between threads (one lock, one
    connection, so there is exactly one writer)."""

    def __init__(
        self,
        path: Path,
        config: OutboxConfig,
        now_ns: Callable[[], int] = time.time_ns,
        *,
        free_bytes: Callable[[Path], int] = _free_bytes,
        max_page_count: int | None = None,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        """Open (or create) the outbox at `path`: WAL, synchronous=FULL, integrity check,
        salvage of a damaged file, ballast. `max_page_count` caps the database (tests,
        or a hard size limit); `on_warning` is called with each new warning (delivery
        publishes them)."""
        self.path = path
        self.config = config
        self._now_ns = now_ns
        self._free_bytes = free_bytes
        self._max_page_count = max_page_count
        self._on_warning = on_warning
        self._lock = threading.RLock()
        self._ballast = path.with_name(path.name + ".ballast")
        self._recent: collections.deque[str] = collections.deque(maxlen=32)
        self._disk_full = False
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._open_checked()
        self._load_state()
        self._make_ballast()

    # ---------------------------------------------------------------- opening
    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        # Bound the WAL file left after a checkpoint, so it does not keep a peak size forever.
        db.execute("PRAGMA journal_size_limit=16777216")
        if self._max_page_count is not None:
            db.execute(f"PRAGMA max_page_count={int(self._max_page_count)}")
        return db

    def _open_checked(self) -> sqlite3.Connection:
        fresh = not self.path.exists()
        db: sqlite3.Connection | None = None
        try:
            db = self._connect()
            result = db.execute("PRAGMA quick_check").fetchall()
            if result != [("ok",)]:
                raise sqlite3.DatabaseError(f"quick_check: {result[:3]}")
            db.executescript(_SCHEMA)
            db.execute("INSERT OR IGNORE INTO chain(one, seq, hash) VALUES (1, 0, NULL)")
            db.execute("INSERT OR IGNORE INTO counters VALUES ('evicted', 0)")
        except sqlite3.DatabaseError as exc:
            if db is not None:
                db.close()
            if fresh or is_disk_full(exc):
                raise
            log.error("outbox damaged path=%s error=%s: salvaging", self.path, exc)
            return self._salvage(str(exc))
        return db

    def _salvage(self, reason: str) -> sqlite3.Connection:
        """Move the damaged file aside, copy what can be read (chain head first) into a new
        database. Refuses to continue if the chain head cannot be recovered: restarting seq
        at 1 would break every receiver's chain."""
        stamp = self._now_ns()
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{self.path}{suffix}")
            if src.exists():
                src.replace(Path(f"{aside}{suffix}"))
        head, rows = _read_salvageable(aside)
        if head is None:
            raise OutboxCorruptError(
                f"{self.path}: outbox damaged ({reason}) and its chain head is unreadable; "
                f"moved to {aside}; restore the seq before starting"
            )
        db = self._connect()
        db.executescript(_SCHEMA)
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO chain(one, seq, hash) VALUES (1, ?, ?)", head)
        db.execute("INSERT INTO counters VALUES ('evicted', 0)")
        db.executemany(
            f"INSERT OR IGNORE INTO records({_COLUMNS}, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.execute("COMMIT")
        self._warn(
            f"outbox was damaged ({reason}); salvaged {len(rows)} records, "
            f"chain head seq {head[0]}; damaged file kept as {aside.name}"
        )
        return db

    def _load_state(self) -> None:
        db = self._db
        seq, hsh = db.execute("SELECT seq, hash FROM chain WHERE one = 1").fetchone()
        self._head: tuple[int, str | None] = (seq, hsh)
        self._evicted = db.execute("SELECT value FROM counters WHERE name='evicted'").fetchone()[0]
        self._pending = db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        self._pending_violations = db.execute(
            "SELECT COUNT(*) FROM records WHERE type = 'violation'"
        ).fetchone()[0]
        self._bytes = db.execute("SELECT COALESCE(SUM(size), 0) FROM records").fetchone()[0]
        log.info(
            "outbox open path=%s head_seq=%d pending=%d bytes=%d",
            self.path,
            seq,
            self._pending,
            self._bytes,
        )

    # ---------------------------------------------------------------- ballast and disk state
    def _make_ballast(self) -> None:
        want = self.config.ballast_bytes
        if want == 0 or self._ballast.exists():
            return
        if self._free_bytes(self.path.parent) < want + self.config.min_free_bytes:
            return  # not now; retried when space comes back
        try:
            fd = os.open(self._ballast, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                # posix_fallocate reserves real blocks (a sparse file would reserve nothing).
                os.posix_fallocate(fd, 0, want)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            self._ballast.unlink(missing_ok=True)
            log.warning("outbox ballast not created path=%s error=%s", self._ballast, exc)

    def _release_ballast(self) -> None:
        if self._ballast.exists():
            self._ballast.unlink()
            log.warning("outbox ballast released path=%s", self._ballast)
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError as exc:
            log.warning("outbox checkpoint failed while disk full: %s", exc)

    def _enter_disk_full(self, exc: sqlite3.Error) -> None:
        if not self._disk_full:
            self._disk_full = True
            self._warn(f"outbox disk full ({exc}); stored records are kept, new ones wait")
        self._release_ballast()

    def _leave_disk_full(self) -> None:
        if self._disk_full:
            self._disk_full = False
            log.warning("outbox recovered from disk full path=%s", self.path)
            self._recent.append("outbox recovered from disk full")
        self._make_ballast()

    def _absorb_disk_full(self, exc: sqlite3.OperationalError) -> None:
        """After a failed write: roll back, and enter the disk-full state if that is why;
        any other error is re-raised."""
        self._rollback()
        if not is_disk_full(exc):
            raise exc
        self._enter_disk_full(exc)

    def _warn(self, message: str) -> None:
        log.warning("%s", message)
        self._recent.append(message)
        if self._on_warning is not None:
            self._on_warning(message)

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    # ---------------------------------------------------------------- appending
    def append_signed(
        self,
        make: MakeRecord,
        *,
        created_ns: int | None = None,
        evidence: Sequence[EvidenceFile] = (),
    ) -> StoredRecord:
        """Append one record: `make(seq, prev)` signs it with the seq and prev it is given,
        inside the transaction that advances the chain head. OutboxFullError if the disk or
        database is full (nothing was stored, the chain head is unchanged)."""
        ns = self._now_ns() if created_ns is None else created_ns
        return self.append_many([Append(make, ns, tuple(evidence))])[0]

    def append_many(self, items: Sequence[Append]) -> list[StoredRecord]:
        """Append several records in one transaction (one fsync): all or none."""
        with self._lock:
            try:
                return self._append_once(items)
            except sqlite3.OperationalError as exc:
                self._absorb_disk_full(exc)
                full = exc
            # Keep what is stored: no eviction here (that is the floor's job). The ballast is
            # gone and the WAL checkpointed; the caller holds the record and retries later.
            raise OutboxFullError(
                f"{self.path}: disk or database full; {self._pending} stored records kept"
            ) from full

    def _append_once(self, items: Sequence[Append]) -> list[StoredRecord]:
        self._enforce_retention()
        db = self._db
        seq, prev = self._head
        out: list[StoredRecord] = []
        added = 0
        db.execute("BEGIN IMMEDIATE")
        try:
            for item in items:
                seq += 1
                rid, rtype, jws = item.make(seq, prev)
                size = len(jws) + _ROW_OVERHEAD
                db.execute(
                    f"INSERT INTO records({_COLUMNS}, size) VALUES (?, ?, ?, ?, ?, ?, 0, NULL, ?)",
                    (seq, rid, rtype, jws, item.created_ns, _evidence_json(item.evidence), size),
                )
                prev = jws_hash(jws)
                added += size
                out.append(
                    StoredRecord(seq, rid, rtype, jws, item.created_ns, item.evidence, 0, None)
                )
            db.execute("UPDATE chain SET seq = ?, hash = ? WHERE one = 1", (seq, prev))
            db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        self._head = (seq, prev)
        self._pending += len(out)
        self._pending_violations += sum(r.type == "violation" for r in out)
        self._bytes += added
        if self._disk_full and self._free_bytes(self.path.parent) >= self.config.min_free_bytes:
            self._leave_disk_full()
        return out

    # ---------------------------------------------------------------- retention
    def _over_budget(self) -> int:
        """Bytes to evict now (0 when within budget and above the free-space floor)."""
        need = 0
        if self._bytes > self.config.max_bytes:
            need = self._bytes - int(self.config.max_bytes * 0.95)
        free = self._free_bytes(self.path.parent)
        if free < self.config.min_free_bytes:
            # Deleting rows frees pages inside the file that later inserts reuse, so evict only
            # when the file has no reusable pages left, then a slice that lasts a while.
            page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
            reusable = self._db.execute("PRAGMA freelist_count").fetchone()[0] * page_size
            if reusable < 64 * 1024:
                need = max(need, self._bytes // 50 + 1, 256 * 1024)
        return need

    def _enforce_retention(self) -> None:
        need = self._over_budget()
        if need > 0:
            self._evict(
                need,
                reason="over budget"
                if self._bytes > self.config.max_bytes
                else "free space below floor",
            )

    def _evict(self, need: int, *, reason: str) -> int:
        """Delete undelivered records, least valuable and oldest first, until `need` bytes are
        freed; returns bytes freed. Violations only when nothing else is left, each warned."""
        freed = 0
        order = [*EVICTION_ORDER, None, "violation"]  # None = every other type
        for rtype in order:
            while freed < need:
                rows = self._delete_oldest(rtype, 256)
                if not rows:
                    break
                freed += sum(r[3] for r in rows)
                self._note_evicted(rows, reason)
            if freed >= need:
                break
        return freed

    def _delete_oldest(self, rtype: str | None, limit: int) -> list[tuple[int, str, str, int]]:
        if rtype is None:
            named = (*EVICTION_ORDER, "violation")
            where = f"type NOT IN ({','.join('?' * len(named))})"
            params: tuple[Any, ...] = (*named, limit)
        else:
            where, params = "type = ?", (rtype, limit)
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            rows = db.execute(
                f"DELETE FROM records WHERE seq IN (SELECT seq FROM records WHERE {where} "
                "ORDER BY seq LIMIT ?) RETURNING seq, id, type, size",
                params,
            ).fetchall()
            db.execute("UPDATE counters SET value = value + ? WHERE name = 'evicted'", (len(rows),))
            db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return sorted(rows)

    def _note_evicted(self, rows: list[tuple[int, str, str, int]], reason: str) -> None:
        self._evicted += len(rows)
        self._pending -= len(rows)
        self._bytes -= sum(r[3] for r in rows)
        by_type = collections.Counter(r[2] for r in rows)
        self._pending_violations -= by_type.get("violation", 0)
        for seq, rid, rtype, _size in rows:
            if rtype == "violation":
                log.error(
                    "outbox evicted undelivered violation id=%s seq=%d (%s)", rid, seq, reason
                )
        self._warn(
            f"outbox {reason}: evicted {len(rows)} undelivered records "
            f"({', '.join(f'{n} {t}' for t, n in sorted(by_type.items()))}; "
            f"seq {rows[0][0]}..{rows[-1][0]})"
        )

    # ---------------------------------------------------------------- delivery side
    def pending(
        self,
        limit: int,
        *,
        types: Collection[str] | None = None,
        sent_before_ns: int | None = None,
    ) -> list[StoredRecord]:
        """Undelivered records, oldest seq first; `sent_before_ns` keeps those never sent or
        last sent before that time (for re-sending unacknowledged ones)."""
        where: list[str] = []
        params: list[Any] = []
        if types is not None:
            where.append(f"type IN ({','.join('?' * len(types))})")
            params.extend(types)
        if sent_before_ns is not None:
            where.append("(last_sent_ns IS NULL OR last_sent_ns < ?)")
            params.append(sent_before_ns)
        sql = f"SELECT {_COLUMNS} FROM records"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq LIMIT ?"
        params.append(limit)
        with self._lock:
            return [_row_record(r) for r in self._db.execute(sql, params)]

    def mark_sent(self, record_ids: Iterable[str], t_ns: int) -> None:
        """Count a publish attempt. Best effort on a full disk (a lost count only means an
        earlier re-send)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for chunk in _chunks(record_ids):
                    self._db.execute(
                        "UPDATE records SET attempts = attempts + 1, last_sent_ns = ? "
                        f"WHERE id IN ({','.join('?' * len(chunk))})",
                        (t_ns, *chunk),
                    )
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self._absorb_disk_full(exc)

    def mark_delivered(self, record_ids: Iterable[str]) -> int:
        """Remove records whose delivery is confirmed; returns how many were removed (ids not
        in the outbox, e.g. a second ack, are ignored)."""
        with self._lock:
            try:
                return self._delete_ids(record_ids)
            except sqlite3.OperationalError as exc:
                self._absorb_disk_full(exc)
            # With the ballast gone the WAL has room for the deletion.
            try:
                return self._delete_ids(record_ids)
            except sqlite3.OperationalError as exc:
                self._rollback()
                if not is_disk_full(exc):
                    raise
                raise OutboxFullError(f"{self.path}: disk full; delivery not recorded") from exc

    def _delete_ids(self, record_ids: Iterable[str]) -> int:
        ids = list(record_ids)
        db = self._db
        rows: list[tuple[str, int]] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for chunk in _chunks(ids):
                rows += db.execute(
                    f"DELETE FROM records WHERE id IN ({','.join('?' * len(chunk))}) "
                    "RETURNING type, size",
                    chunk,
                ).fetchall()
            db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        self._pending -= len(rows)
        self._pending_violations -= sum(t == "violation" for t, _ in rows)
        self._bytes -= sum(s for _, s in rows)
        return len(rows)

    def get(self, record_id: str) -> StoredRecord | None:
        """The stored record with this id, or None when absent (delivered or never stored)."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM records WHERE id = ?", (record_id,)
            ).fetchone()
        return None if row is None else _row_record(row)

    def head(self) -> tuple[int, str | None]:
        """(last seq signed, base64url SHA-256 of its JWS); (0, None) before the first."""
        with self._lock:
            return self._head

    # ---------------------------------------------------------------- state
    def maintain(self) -> None:
        """Periodic housekeeping (call every few seconds): retention, recovery from a full
        disk, ballast, WAL checkpoint."""
        with self._lock:
            try:
                self._enforce_retention()
                if self._disk_full and (
                    self._free_bytes(self.path.parent) >= self.config.min_free_bytes
                ):
                    self._leave_disk_full()
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.OperationalError as exc:
                self._absorb_disk_full(exc)

    def stats(self) -> OutboxStats:
        """Counters and warnings for health reporting."""
        with self._lock:
            row = self._db.execute("SELECT created_ns FROM records ORDER BY seq LIMIT 1").fetchone()
            page_count = self._db.execute("PRAGMA page_count").fetchone()[0]
            page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
            wal = Path(f"{self.path}-wal")
            wal_bytes = wal.stat().st_size if wal.exists() else 0
            warnings = list(self._recent)
            if self._disk_full:
                warnings.insert(0, "outbox disk full")
            return OutboxStats(
                pending=self._pending,
                pending_violations=self._pending_violations,
                oldest_pending_ns=None if row is None else row[0],
                db_bytes=page_count * page_size + wal_bytes,
                evicted=self._evicted,
                disk_full=self._disk_full,
                warnings=tuple(warnings),
            )

    def close(self) -> None:
        """Checkpoint and close; the outbox may be reopened later."""
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.OperationalError as exc:
                log.warning("outbox checkpoint at close failed: %s", exc)
            self._db.close()


def _read_salvageable(path: Path) -> tuple[tuple[int, str | None] | None, list[tuple[Any, ...]]]:
    """(chain head, readable rows) of a damaged outbox; no head if the chain table is
    unreadable (the highest readable record is not enough: later ones may be lost)."""
    rows: list[tuple[Any, ...]] = []
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.DatabaseError:
        return None, []
    try:
        try:
            seq, hsh = db.execute("SELECT seq, hash FROM chain WHERE one = 1").fetchone()
        except (sqlite3.DatabaseError, TypeError):
            return None, []
        last = 0
        while last < seq:
            try:
                batch = db.execute(
                    f"SELECT {_COLUMNS}, size FROM records WHERE seq > ? ORDER BY seq LIMIT 500",
                    (last,),
                ).fetchall()
            except sqlite3.DatabaseError:
                last += 1  # skip past an unreadable row and keep going
                continue
            if not batch:
                break
            rows += batch
            last = batch[-1][0]
    finally:
        db.close()
    return (int(seq), hsh), rows
