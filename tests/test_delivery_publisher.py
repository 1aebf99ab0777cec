"""Publisher against a real Mosquitto: what a back office receives, and what stays on the unit."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.config.site import MqttConfig, OutboxConfig
from edge.delivery.publisher import Publisher
from edge.outbox.store import Outbox
from edge.records.evidence import write_evidence
from edge.records.keys import SigningKey, jwks
from tests.mosquitto import BackOffice, Broker, broker, jws_payload, running_broker
from tests.unit_standin import DEVICE, SITE, append_records

__all__ = ["broker"]  # the fixture, imported for pytest

BASE = f"roadside/{SITE}/{DEVICE}"


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.db", OutboxConfig(min_free_bytes=0, ballast_bytes=0))
    yield box
    box.close()


def make_publisher(url: str, outbox: Outbox, key: SigningKey, **mqtt: object) -> Publisher:
    cfg = MqttConfig(url=url, reconnect_min_s=0.1, reconnect_max_s=0.5, **mqtt)  # type: ignore[arg-type]
    birth = {"software": {"version": "9.9.9"}, "kid": key.kid}
    return Publisher(cfg, outbox, SITE, DEVICE, jwks([key.public_jwk()]), birth)


def test_records_evidence_birth_and_keys_reach_the_back_office(
    broker: Broker, outbox: Outbox, key: SigningKey, tmp_path: Path
) -> None:
    office = BackOffice(broker.url, BASE, ack=False)
    time.sleep(0.3)
    ev_dir = tmp_path / "evidence"

    def evidence(i: int) -> list:  # type: ignore[type-arg]
        if i % 3 != 0:
            return []
        return [write_evidence(ev_dir, f"r{i}-plate.jpg", b"\xff\xd8jpeg%d" % i, "image/jpeg")]

    stored = append_records(
        outbox, key, 30, lambda i: "violation" if i % 3 == 0 else "vehicle", evidence
    )
    pub = make_publisher(broker.url, outbox, key)
    pub.start()
    assert pub.drain(20) == 0
    assert office.wait_for(30, 10)
    st = pub.status()
    assert st.connected and st.published == 30 and st.delivered == 30
    pub.stop()
    time.sleep(0.3)
    office.close()
    office.check_stream(30)
    with office.lock:
        msgs = list(office.messages)
        order = list(office.order)
    # records on the topic of their type, with rid/seq user properties and the JOSE type
    by_topic = {m.topic: m for m in msgs}
    for rec in stored:
        assert f"{BASE}/{rec.type}" in by_topic
    rec_msg = next(m for m in msgs if m.topic == f"{BASE}/violation")
    props = dict(rec_msg.properties.UserProperty)
    body = jws_payload(rec_msg.payload)
    assert props == {"rid": body["id"], "seq": str(body["seq"])}
    assert rec_msg.properties.ContentType == "application/jose"
    # each evidence image arrives before its record, byte for byte
    for rec in stored:
        for ev in rec.evidence:
            ev_topic = f"evidence/{rec.id}/{ev.name}"
            assert order.index(ev_topic) < order_of(order, msgs, rec.id)
            assert by_topic[f"{BASE}/{ev_topic}"].payload == Path(ev.path).read_bytes()
    # the outbox is empty: delivery confirmed by PUBACK
    assert outbox.stats().pending == 0
    # retained: offline status after a clean stop, keys with the unit's kid
    late = BackOffice(broker.url, BASE, ack=False, client_id="late-reader")
    time.sleep(0.5)
    late.close()
    with late.lock:
        retained = {m.topic: m.payload for m in late.messages if m.retain}
    assert json.loads(retained[f"{BASE}/status"])["state"] == "offline"
    assert json.loads(retained[f"{BASE}/keys"])["keys"][0]["kid"] == key.kid


def order_of(order: list[str], msgs: list, rid: str) -> int:  # type: ignore[type-arg]
    for i, m in enumerate(msgs):
        if order[i] in ("vehicle", "violation") and jws_payload(m.payload)["id"] == rid:
            return i
    raise AssertionError(f"record {rid} never arrived")


ACL_WITHOUT_VIOLATIONS = f"""
topic readwrite {BASE}/status
topic readwrite {BASE}/keys
topic readwrite {BASE}/health
topic readwrite {BASE}/vehicle
topic readwrite {BASE}/evidence/#
topic read roadside/#
"""


def test_acl_denial_keeps_the_records_and_warns(
    tmp_path: Path, outbox: Outbox, key: SigningKey
) -> None:
    with running_broker(tmp_path / "acl-broker", acl=ACL_WITHOUT_VIOLATIONS) as b:
        append_records(outbox, key, 6, lambda i: "violation" if i in (1, 4) else "vehicle")
        pub = make_publisher(b.url, outbox, key, ack_timeout_s=0.5)
        pub.start()
        try:
            assert pub.drain(1.5) == 2  # the two violations stay on the unit
            time.sleep(1.2)  # past the retry timeout: tried again, refused again
            st = pub.status()
        finally:
            pub.stop()
    left = outbox.pending(10)
    assert [r.type for r in left] == ["violation", "violation"]
    assert st.delivered == 4 and st.published == 4
    assert st.failed_codes.get(0x87, 0) >= 4  # 2 records x at least 2 attempts
    assert any("0x87" in w and "Not authorized" in w for w in st.warnings), st.warnings


def test_mqtt_311_delivers_too(broker: Broker, outbox: Outbox, key: SigningKey) -> None:
    office = BackOffice(broker.url, BASE, ack=False, v5=False)
    time.sleep(0.3)
    append_records(outbox, key, 20)
    pub = make_publisher(broker.url, outbox, key, protocol="3.1.1")
    pub.start()
    try:
        assert pub.drain(10) == 0
        assert office.wait_for(20, 5)
    finally:
        pub.stop()
        office.close()
    office.check_stream(20)


def test_drain_times_out_while_the_broker_is_down_then_delivers(
    tmp_path: Path, outbox: Outbox, key: SigningKey
) -> None:
    b = Broker(tmp_path / "late-broker")  # not started: the unit comes up first
    append_records(outbox, key, 10, "violation")
    pub = make_publisher(b.url, outbox, key)
    pub.start()
    try:
        assert pub.drain(0.5) == 10
        st = pub.status()
        assert not st.connected
        assert st.last_error is not None and "connection refused" in st.last_error
        b.start()
        assert pub.drain(10) == 0
        assert pub.status().connected
    finally:
        pub.stop()
        b.kill()


def test_health_reports_queue_depth_and_oldest_age(
    broker: Broker, outbox: Outbox, key: SigningKey
) -> None:
    office = BackOffice(broker.url, BASE, ack=False)  # no acks: records stay pending
    time.sleep(0.3)
    append_records(outbox, key, 5, "violation")
    pub = make_publisher(broker.url, outbox, key, end_to_end_ack=True, health_interval_s=0.3)
    pub.start()
    try:
        assert office.wait_for(5, 5)
        deadline = time.monotonic() + 5
        health = None
        while time.monotonic() < deadline:
            with office.lock:
                found = [m for m in office.messages if m.topic == f"{BASE}/health"]
            if found:
                health = json.loads(found[-1].payload)
                if health["queue"]["pending"] == 5:
                    break
            time.sleep(0.05)
        assert health is not None
        assert health["queue"]["pending"] == 5
        assert health["queue"]["pending_violations"] == 5
        assert health["queue"]["oldest_pending_age_s"] >= 0
        assert pub.drain(0.3) == 5  # published, but not acknowledged end to end
    finally:
        pub.stop()
        office.close()
