"""Crashes while records flow: the broker SIGKILLed and restarted, the unit SIGKILLed and
restarted. A back office (real paho subscriber with a persistent session) must end with every
record, seq 1..N without a gap, an intact prev chain, and only byte-identical duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edge.config.site import MqttConfig, OutboxConfig
from edge.delivery.publisher import Publisher
from edge.outbox.store import Outbox
from edge.records.keys import SigningKey, jwks
from tests.mosquitto import BackOffice, Broker, broker
from tests.unit_standin import DEVICE, SITE, append_records

__all__ = ["broker"]

BASE = f"roadside/{SITE}/{DEVICE}"
REPO = Path(__file__).resolve().parent.parent


def _writer(
    outbox: Outbox, key: SigningKey, pub: Publisher, total: int, stop: threading.Event
) -> None:
    while outbox.head()[0] < total and not stop.is_set():
        append_records(
            outbox,
            key,
            min(5, total - outbox.head()[0]),
            lambda i: "violation" if i == 2 else "vehicle",
        )
        pub.notify()
        time.sleep(0.01)


@pytest.mark.slow
def test_broker_killed_repeatedly_with_end_to_end_ack_loses_nothing(
    broker: Broker, tmp_path: Path
) -> None:
    total = 800
    key = SigningKey.generate()
    outbox = Outbox(tmp_path / "outbox.db", OutboxConfig(min_free_bytes=0, ballast_bytes=0))
    office = BackOffice(broker.url, BASE, ack=True)
    cfg = MqttConfig(
        url=broker.url,
        end_to_end_ack=True,
        ack_timeout_s=1.5,
        max_inflight=16,
        reconnect_min_s=0.1,
        reconnect_max_s=0.4,
    )
    pub = Publisher(cfg, outbox, SITE, DEVICE, jwks([key.public_jwk()]), {"kid": key.kid})
    pub.start()
    stop = threading.Event()
    writer = threading.Thread(target=_writer, args=(outbox, key, pub, total, stop))
    writer.start()
    try:
        kills = 0
        while writer.is_alive() or kills < 3:
            time.sleep(0.5)
            broker.kill()
            kills += 1
            time.sleep(0.3)
            broker.start()
        writer.join()
        assert pub.drain(40) == 0, f"undelivered: {pub.status()}"
        assert office.wait_for(total, 10)
    finally:
        stop.set()
        pub.stop()
        office.close()
        outbox.close()
    assert kills >= 3 and broker.starts >= 4
    office.check_stream(total)
    st = pub.status()
    assert st.connects >= 4
    assert st.delivered == total


def _start_unit(tmp_path: Path, url: str, total: int) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "tests.unit_standin",
        "--outbox",
        str(tmp_path / "unit" / "outbox.db"),
        "--key",
        str(tmp_path / "unit" / "key.pem"),
        "--broker",
        url,
        "--total",
        str(total),
        "--end-to-end-ack",
        "--ack-timeout",
        "1.5",
    ]
    return subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _written(proc: subprocess.Popen[str]) -> int:
    line = proc.stdout.readline() if proc.stdout else ""
    return int(line.split()[1]) if line.startswith("written") else -1


@pytest.mark.slow
def test_unit_killed_mid_stream_resumes_without_loss(broker: Broker, tmp_path: Path) -> None:
    total = 600
    office = BackOffice(broker.url, BASE, ack=True)
    time.sleep(0.3)
    try:
        for kill_at in (60, 250, 420):
            unit = _start_unit(tmp_path, broker.url, total)
            while (n := _written(unit)) < kill_at:
                assert n != -1 or unit.poll() is None, unit.stderr.read() if unit.stderr else ""
            os.kill(unit.pid, signal.SIGKILL)
            unit.wait(10)
            # the broker publishes the unit's Last Will: retained "offline"
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and office_status(office) != "offline":
                time.sleep(0.05)
            assert office_status(office) == "offline"
        unit = _start_unit(tmp_path, broker.url, total)
        out, err = unit.communicate(timeout=90)
        assert unit.returncode == 0, err[-2000:]
        assert "remaining 0" in out
        assert office.wait_for(total, 10)
    finally:
        office.close()
    office.check_stream(total)


def office_status(office: BackOffice) -> str | None:
    with office.lock:
        for msg in reversed(office.messages):
            if msg.topic.endswith("/status"):
                return str(json.loads(msg.payload)["state"])
    return None
