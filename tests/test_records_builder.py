"""Records as a receiver sees them: signed JWS any JOSE library verifies, valid against the
published JSON Schemas, chained by seq and prev, also across restarts and a killed process."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from edge.config.site import OutboxConfig
from edge.outbox.store import Outbox
from edge.records.builder import ClockInfo, RecordWriter, rfc3339_ms, write_evidence
from edge.records.ids import is_uuid7, uuid7_time_ms
from edge.records.jws import jws_hash
from edge.records.keys import SigningKey
from edge.records.schema import RECORD_TYPES, load_schemas

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def vehicle_body(lane: int = 1, gross: int = 30_000) -> dict[str, Any]:
    """A vehicle body shaped like edge.fusion's."""
    return {
        "lane": lane,
        "speed_kmh": 72.4,
        "axles": [
            {"load_kg": 6000, "spacing_m": 0.0},
            {"load_kg": gross - 6000, "spacing_m": 4.2},
        ],
        "groups": [{"axles": [0], "load_kg": 6000}, {"axles": [1], "load_kg": gross - 6000}],
        "gross_kg": gross,
        "class": [{"scheme": "cn-axles", "code": "2"}],
        "plate": {"text": "京A12345", "color": "blue", "confidence": 0.93},
        "quality": [],
        "calibration": {"id": "cal-2026-01"},
    }


def violation_body() -> dict[str, Any]:
    """A violation body: vehicle fields plus the rule."""
    body = vehicle_body(gross=25_000)
    body["rule"] = {
        "profile": "cn-gb1589",
        "profile_version": "2016",
        "article": "GB 1589-2016 4.3.2",
        "limit_kg": 18_000,
        "tolerance": {"policy": "percent", "percent": 5.0},
        "measured_kg": 25_000,
        "tolerated_kg": 23_750,
        "excess_kg": 5_750,
        "excess_pct": 31.9,
    }
    body["evidence"] = []
    return body


class Clock:
    """A stepping Unix clock for ids and created times."""

    def __init__(self) -> None:
        self.ns = T0

    def __call__(self) -> int:
        self.ns += 1_000_000
        return self.ns


def make_writer(outbox: Outbox, key: SigningKey, clock: Clock | None = None) -> RecordWriter:
    """The writer the service builds, with fixed identity and a replay clock."""
    return RecordWriter(
        outbox,
        key,
        "site-1",
        "dev-1",
        "0.1.0",
        {"plates": "a" * 64},
        lambda: ClockInfo("ntp", True, 0.4),
        clock or Clock(),
    )


def payload(jws: str) -> dict[str, Any]:
    """The JSON record inside a compact JWS (no verification)."""
    part = jws.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return data


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.sqlite", OutboxConfig(ballast_bytes=0))
    yield box
    box.close()


@pytest.fixture(scope="module")
def schema_validators() -> dict[str, Draft202012Validator]:
    schemas = load_schemas()
    registry: Registry[Any] = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values()
    )
    return {t: Draft202012Validator(schemas[t], registry=registry) for t in RECORD_TYPES}


def test_records_carry_the_envelope_and_chain_by_prev(outbox: Outbox) -> None:
    key = SigningKey.generate()
    writer = make_writer(outbox, key)
    stored = [writer.write("vehicle", vehicle_body(), T0 + i * 1_500_000_000) for i in range(5)]
    records = [payload(s.jws) for s in stored]
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert records[0]["prev"] is None
    for before, after in zip(stored, records[1:], strict=False):
        expected = base64.urlsafe_b64encode(hashlib.sha256(before.jws.encode()).digest())
        assert after["prev"] == expected.rstrip(b"=").decode()
    first = records[0]
    assert first["schema"] == "roadside.record/1"
    assert (first["site"], first["device"]) == ("site-1", "dev-1")
    assert first["time"] == "2026-01-01T00:00:00.000Z"
    assert records[1]["time"] == "2026-01-01T00:00:01.500Z"
    assert first["clock"] == {"source": "ntp", "synced": True, "offset_ms": 0.4}
    assert first["software"] == {"version": "0.1.0", "models": {"plates": "a" * 64}}
    ids = [r["id"] for r in records]
    assert all(is_uuid7(i) for i in ids)
    assert ids == sorted(ids), "UUIDv7 ids sort in the order they were made"
    assert outbox.head() == (5, jws_hash(stored[-1].jws))


def test_any_jose_library_verifies_the_records(outbox: Outbox) -> None:
    from joserfc import jws
    from joserfc.jwk import KeySet, OKPKey

    key = SigningKey.generate()
    record = make_writer(outbox, key).write("vehicle", vehicle_body(), T0)
    keyset = KeySet([OKPKey.import_key(key.public_jwk())])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc flags "EdDSA" as superseded by RFC 9864
        obj = jws.deserialize_compact(record.jws, keyset, algorithms=["EdDSA"])
    assert obj.headers() == {"alg": "EdDSA", "kid": key.kid, "typ": "roadside-record+json"}
    assert json.loads(obj.payload)["id"] == record.id
    head, body, sig = record.jws.split(".")
    flipped = body[:20] + ("A" if body[20] != "A" else "B") + body[21:]
    other = make_writer(outbox, SigningKey.generate()).write("vehicle", vehicle_body(), T0)
    from joserfc.errors import BadSignatureError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(BadSignatureError):
            jws.deserialize_compact(f"{head}.{flipped}.{sig}", keyset, algorithms=["EdDSA"])
        with pytest.raises(BadSignatureError):  # another unit's key
            jws.deserialize_compact(
                other.jws, OKPKey.import_key(key.public_jwk()), algorithms=["EdDSA"]
            )


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_verifies_the_signature(outbox: Outbox, tmp_path: Path) -> None:
    key = SigningKey.generate()
    record = make_writer(outbox, key).write("vehicle", vehicle_body(), T0)
    head, body, sig = record.jws.split(".")
    (tmp_path / "pub.pem").write_bytes(key.public_pem())
    (tmp_path / "input").write_bytes(f"{head}.{body}".encode())
    (tmp_path / "sig").write_bytes(base64.urlsafe_b64decode(sig + "=="))
    cmd = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin",
           "-in", "input", "-sigfile", "sig"]  # fmt: skip
    ok = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (tmp_path / "input").write_bytes(f"{head}.{body}x".encode())
    bad = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert bad.returncode != 0


def test_every_record_type_validates_against_its_published_schema(
    outbox: Outbox, tmp_path: Path, schema_validators: dict[str, Draft202012Validator]
) -> None:
    writer = make_writer(outbox, SigningKey.generate())
    vehicle = writer.write("vehicle", vehicle_body(), T0)
    ev_dir = tmp_path / "evidence" / "x"
    image = write_evidence(ev_dir, "overview.jpg", b"\xff\xd8jpeg bytes", "image/jpeg")
    violation = writer.write("violation", violation_body(), T0, evidence=[image])
    road = writer.write(
        "road",
        {
            "camera": "cam-road",
            "class": "spill",
            "box": [10, 20, 200, 120],
            "severity": "high",
            "state": "new",
            "first_seen": rfc3339_ms(T0),
            "last_seen": rfc3339_ms(T0),
            "vehicles_before": [{"id": vehicle.id, "lane": 1, "time": rfc3339_ms(T0)}],
        },
        T0,
    )
    calibration = writer.write(
        "calibration", {"event": "applied", "calibration": {"id": "cal-2026-01"}}, T0
    )
    health = writer.write("health", {"state": "degraded", "component": "camera:cam-1"}, T0)
    for stored in (vehicle, violation, road, calibration, health):
        errors = [
            e.message for e in schema_validators[stored.type].iter_errors(payload(stored.jws))
        ]
        assert errors == [], (stored.type, errors)
    assert payload(violation.jws)["evidence"] == [
        {
            "name": "overview.jpg",
            "sha256": hashlib.sha256(b"\xff\xd8jpeg bytes").hexdigest(),
            "bytes": 12,
            "media_type": "image/jpeg",
        }
    ]
    # The schema rejects what a receiver must not accept.
    broken = payload(violation.jws)
    del broken["rule"]["article"]
    broken["seq"] = 0
    assert len(list(schema_validators["violation"].iter_errors(broken))) >= 2


def test_evidence_is_written_whole_and_named_in_the_record(tmp_path: Path) -> None:
    ev = write_evidence(tmp_path / "evidence" / "rid", "plate.png", b"\x89PNG data", "image/png")
    assert ev.path.read_bytes() == b"\x89PNG data"
    assert ev.sha256 == hashlib.sha256(b"\x89PNG data").hexdigest()
    assert (ev.bytes, ev.media_type) == (9, "image/png")
    assert list(ev.path.parent.iterdir()) == [ev.path], "no temporary file left behind"
    with pytest.raises(ValueError, match="invalid evidence name"):
        write_evidence(tmp_path, "../escape.jpg", b"x", "image/jpeg")


def test_body_may_not_override_the_envelope(outbox: Outbox) -> None:
    writer = make_writer(outbox, SigningKey.generate())
    with pytest.raises(ValueError, match="seq"):
        writer.write("vehicle", {**vehicle_body(), "seq": 7}, T0)
    with pytest.raises(ValueError):
        writer.write("vehicle", {**vehicle_body(), "speed_kmh": float("nan")}, T0)
    assert outbox.head() == (0, None), "a refused record takes no seq"
    assert writer.write("vehicle", vehicle_body(), T0).seq == 1


def test_seq_and_chain_continue_after_restart_and_delivery(tmp_path: Path) -> None:
    key = SigningKey.generate()
    box = Outbox(tmp_path / "o.sqlite", OutboxConfig(ballast_bytes=0))
    first = [make_writer(box, key).write("vehicle", vehicle_body(), T0) for _ in range(3)]
    box.mark_delivered(r.id for r in first)  # all rows gone: the head must survive
    box.close()
    box = Outbox(tmp_path / "o.sqlite", OutboxConfig(ballast_bytes=0))
    nxt = make_writer(box, key).write("vehicle", vehicle_body(), T0)
    assert nxt.seq == 4
    assert payload(nxt.jws)["prev"] == jws_hash(first[-1].jws)
    box.close()


_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from edge.config.site import OutboxConfig
    from edge.outbox.store import Outbox
    from edge.records.keys import SigningKey
    from tests.test_records_builder import make_writer, vehicle_body, T0
    box = Outbox(Path(sys.argv[1]), OutboxConfig(ballast_bytes=0))
    writer = make_writer(box, SigningKey.load(Path(sys.argv[2])))
    while True:
        r = writer.write("vehicle", vehicle_body(), T0)
        if r.seq % 50 == 0:
            print(r.seq, flush=True)
    """
)


def test_a_killed_writer_never_reuses_a_seq_or_breaks_the_chain(tmp_path: Path) -> None:
    key = SigningKey.generate()
    key.save(tmp_path / "key.pem")
    db = tmp_path / "o.sqlite"
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(repo)}
    for _ in range(2):
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(db), str(tmp_path / "key.pem")],
            stdout=subprocess.PIPE, env=env, cwd=repo, text=True,
        )  # fmt: skip
        assert child.stdout is not None
        deadline = time.monotonic() + 60
        while int(child.stdout.readline() or 0) < 200 and time.monotonic() < deadline:
            pass
        child.send_signal(signal.SIGKILL)  # mid-transaction, most likely
        child.wait()
        child.stdout.close()
    box = Outbox(db, OutboxConfig(ballast_bytes=0))
    rows = box.pending(1_000_000)
    seq, head = box.head()
    assert [r.seq for r in rows] == list(range(1, seq + 1)), "contiguous, nothing reused"
    for before, after in itertools.pairwise(rows):
        assert payload(after.jws)["prev"] == jws_hash(before.jws)
    assert head == jws_hash(rows[-1].jws)
    assert make_writer(box, key).write("vehicle", vehicle_body(), T0).seq == seq + 1
    box.close()


def test_uuid7_is_time_ordered_even_when_the_clock_steps_back() -> None:
    from edge.records.ids import Uuid7Generator

    gen = Uuid7Generator()
    ids = [gen.new(T0), gen.new(T0), gen.new(T0 - 5_000_000_000), gen.new(T0 + 1)]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert uuid7_time_ms(ids[0]) == T0 // 1_000_000
