"""The durable outbox as the delivery side and an operator see it: records wait in seq order,
leave only when delivered, statistics go before violations when space runs short, two threads
share it, and a damaged file is salvaged without reusing a seq."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from pathlib import Path

import pytest

from edge.config.site import OutboxConfig
from edge.outbox.store import Outbox
from edge.records.jws import jws_hash
from edge.records.keys import SigningKey
from tests.test_records_builder import T0, make_writer, payload, vehicle_body, violation_body

MIB = 1024 * 1024


def open_box(path: Path, **config: int) -> Outbox:
    return Outbox(path, OutboxConfig(ballast_bytes=0, **config))


def test_records_wait_in_seq_order_until_delivered(tmp_path: Path) -> None:
    box = open_box(tmp_path / "o.sqlite")
    writer = make_writer(box, SigningKey.generate())
    recs = [writer.write("vehicle", vehicle_body(), T0) for _ in range(4)]
    recs.append(writer.write("violation", violation_body(), T0))
    assert [r.seq for r in box.pending(10)] == [1, 2, 3, 4, 5]
    assert [r.id for r in box.pending(10, types={"violation"})] == [recs[4].id]

    box.mark_sent([recs[0].id, recs[1].id], t_ns=T0 + 100)
    unsent_or_old = box.pending(10, sent_before_ns=T0 + 50)
    assert [r.seq for r in unsent_or_old] == [3, 4, 5], "just-sent records wait for their ack"
    sent = box.get(recs[0].id)
    assert sent is not None and (sent.attempts, sent.last_sent_ns) == (1, T0 + 100)
    assert sent.jws == recs[0].jws

    assert box.mark_delivered([recs[0].id, recs[4].id, "not-a-stored-id"]) == 2
    assert box.mark_delivered([recs[0].id]) == 0, "a second ack is harmless"
    assert box.get(recs[0].id) is None
    stats = box.stats()
    assert (stats.pending, stats.pending_violations, stats.evicted) == (3, 0, 0)
    assert stats.oldest_pending_ns is not None and not stats.disk_full
    box.close()

    again = open_box(tmp_path / "o.sqlite")
    assert [r.seq for r in again.pending(10)] == [2, 3, 4], "what is stored survives a restart"
    assert again.head() == (5, jws_hash(recs[4].jws))
    assert again.stats().pending == 3
    again.close()


def test_over_budget_evicts_oldest_statistics_and_keeps_violations(tmp_path: Path) -> None:
    heard: list[str] = []
    box = Outbox(tmp_path / "o.sqlite", OutboxConfig(max_bytes=MIB, ballast_bytes=0),
                 on_warning=heard.append)  # fmt: skip
    writer = make_writer(box, SigningKey.generate())
    violations = []
    batch = [("violation", violation_body(), T0, ())] + [("vehicle", vehicle_body(), T0, ())] * 9
    for _ in range(200):  # ~1.7 MB of records into a 1 MiB budget, 10 per transaction
        violations.append(writer.write_many(batch)[0].id)
    stats = box.stats()
    assert stats.evicted > 0
    assert stats.pending_violations == len(violations), "no violation evicted while vehicles remain"
    left = box.pending(10_000)
    kept_vehicles = [r.seq for r in left if r.type == "vehicle"]
    assert kept_vehicles, "only as many as needed are evicted"
    assert min(kept_vehicles) > 1000, "the oldest statistics went first"
    assert any("evicted" in w and "vehicle" in w for w in stats.warnings)
    assert heard and "violation" not in " ".join(heard)
    box.close()


def test_violations_are_evicted_last_and_never_silently(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[str] = []
    box = Outbox(tmp_path / "o.sqlite", OutboxConfig(max_bytes=MIB, ballast_bytes=0),
                 on_warning=heard.append)  # fmt: skip
    writer = make_writer(box, SigningKey.generate())
    batch = [("violation", violation_body(), T0, ())] * 10
    first = [r for _ in range(150) for r in writer.write_many(batch)]
    stats = box.stats()
    assert 0 < stats.evicted < 1500
    assert box.get(first[0].id) is None and box.get(first[-1].id) is not None
    assert any("violation" in w for w in heard)
    evicted_logs = [r for r in caplog.records if "evicted undelivered violation" in r.message]
    assert len(evicted_logs) == stats.evicted, "each dropped violation is logged by id"
    assert all(r.levelname == "ERROR" for r in evicted_logs)
    box.close()


def test_free_space_floor_evicts_statistics(tmp_path: Path) -> None:
    free = [10 * MIB]  # the data filesystem, as statvfs would report it

    box = Outbox(tmp_path / "o.sqlite", OutboxConfig(min_free_bytes=4 * MIB, ballast_bytes=0),
                 free_bytes=lambda _p: free[0])  # fmt: skip
    writer = make_writer(box, SigningKey.generate())
    for i in range(600):
        writer.write("violation" if i % 3 == 0 else "vehicle", vehicle_body(), T0)
    assert box.stats().evicted == 0
    free[0] = 3 * MIB  # something else filled the disk
    writer.write("vehicle", vehicle_body(), T0)
    stats = box.stats()
    assert stats.evicted > 0 and stats.pending_violations == 200
    assert any("free space below floor" in w for w in stats.warnings)
    box.close()


def test_pipeline_and_delivery_threads_share_the_outbox(tmp_path: Path) -> None:
    box = open_box(tmp_path / "o.sqlite")
    writer = make_writer(box, SigningKey.generate())
    done = threading.Event()
    delivered: list[str] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            while not (done.is_set() and box.stats().pending == 0):
                batch = box.pending(17)
                box.mark_sent((r.id for r in batch), T0)
                box.mark_delivered(r.id for r in batch)
                delivered.extend(r.jws for r in batch)
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)

    thread = threading.Thread(target=deliver)
    thread.start()
    written = [writer.write("vehicle", vehicle_body(), T0).jws for _ in range(400)]
    done.set()
    thread.join(timeout=60)
    assert not errors
    assert delivered == written, "each record delivered once, in seq order"
    assert box.head()[0] == 400
    box.close()


def test_damaged_database_is_salvaged_without_reusing_a_seq(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    key = SigningKey.generate()
    box = open_box(path)
    writer = make_writer(box, key)
    for _ in range(300):
        writer.write("vehicle", vehicle_body(), T0)
    written = {r.seq: r.jws for r in box.pending(1000)}
    last = box.pending(1000)[-1]
    box.close()
    page = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    with path.open("r+b") as f:  # scribble over a page deep in the records table
        f.seek(page * 40)
        f.write(b"\xde\xad" * (page // 2))
    box = open_box(path)
    assert box.head() == (300, jws_hash(last.jws)), "the chain head survives"
    assert any("damaged" in w for w in box.stats().warnings)
    kept = box.pending(1000)
    assert len(kept) > 0 and all(r.jws == written[r.seq] for r in kept), "salvaged intact"
    assert list(tmp_path.glob("o.sqlite.corrupt-*")), "the damaged file is kept for forensics"
    nxt = make_writer(box, key).write("vehicle", vehicle_body(), T0)
    assert nxt.seq == 301 and payload(nxt.jws)["prev"] == jws_hash(last.jws)
    box.close()


def test_batch_append_is_all_or_nothing(tmp_path: Path) -> None:
    box = open_box(tmp_path / "o.sqlite")
    writer = make_writer(box, SigningKey.generate())
    good = (("vehicle", vehicle_body(), T0, ()),) * 3
    stored = writer.write_many(list(good))
    assert [r.seq for r in stored] == [1, 2, 3]
    with pytest.raises(ValueError):
        writer.write_many([*good, ("vehicle", {"speed_kmh": float("inf")}, T0, ())])
    assert box.head()[0] == 3 and box.stats().pending == 3
    seqs = [r.seq for r in itertools.chain(box.pending(10))]
    assert seqs == [1, 2, 3]
    box.close()
