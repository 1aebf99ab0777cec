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
