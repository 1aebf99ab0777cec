"""Delivery benchmark: drain a record backlog to a local Mosquitto, and what survives broker kills.

    .venv/bin/python benchmarks/delivery_drain.py [--records 10000] [--kills 3]

Speed: the Publisher (PUBACK mode, and end-to-end ack with a back office acking) against a
plain paho QoS 1 publish loop over the same JWS payloads, all to a local Mosquitto.
Safety: the same publishers while the broker is SIGKILLed and restarted `--kills` times; a back
office counts the distinct records it received. Needs /usr/sbin/mosquitto.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.config.site import MqttConfig, OutboxConfig
from edge.delivery.publisher import Publisher
from edge.outbox.store import Outbox
from edge.records.keys import SigningKey, jwks
from tests.mosquitto import BackOffice, Broker
from tests.unit_standin import DEVICE, SITE, append_records

BASE = f"roadside/{SITE}/{DEVICE}"


def backlog(folder: Path, n: int) -> tuple[Outbox, SigningKey]:
    """An outbox holding `n` signed records (1 in 7 a violation)."""
    key = SigningKey.generate()
    box = Outbox(folder / "outbox.db", OutboxConfig(min_free_bytes=0, ballast_bytes=0))
    for start in range(0, n, 1000):
        append_records(
            box, key, min(1000, n - start), lambda i: "violation" if i % 7 == 3 else "vehicle"
        )
    return box, key


def killer(broker: Broker, kills: int, period_s: float, stop: threading.Event) -> threading.Thread:
    """SIGKILL and restart the broker `kills` times, every `period_s`."""

    def run() -> None:
        for _ in range(kills):
            if stop.wait(period_s):
                return
            broker.kill()
            time.sleep(0.3)
            broker.start()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def run_publisher(
    broker: Broker, folder: Path, n: int, e2e: bool, kills: int
) -> tuple[float, int, str]:
    box, key = backlog(folder, n)
    office = BackOffice(broker.url, BASE, ack=e2e, client_id=f"office-{folder.name}")
    time.sleep(0.3)
    cfg = MqttConfig(
        url=broker.url,
        end_to_end_ack=e2e,
        ack_timeout_s=3.0,
        reconnect_min_s=0.1,
        reconnect_max_s=0.5,
    )
    pub = Publisher(cfg, box, SITE, DEVICE, jwks([key.public_jwk()]), {"kid": key.kid})
    stop = threading.Event()
    t0 = time.perf_counter()
    pub.start()
    k = killer(broker, kills, 0.6, stop) if kills else None
    left = pub.drain(120)
    elapsed = time.perf_counter() - t0
    stop.set()
    if k:
        k.join()
    office.wait_for(n, 5)
    pub.stop()
    office.close()
    box.close()
    got = office.count()
    return elapsed, n - got, f"outbox left {left}, {pub.status().connects} connects"


def run_plain_paho(broker: Broker, folder: Path, n: int, kills: int) -> tuple[float, int, str]:
    """What a naive unit does: publish every record at QoS 1 from memory, count on_publish."""
    box, _key = backlog(folder, n)
    records = box.pending(n)
    box.close()
    office = BackOffice(broker.url, BASE, ack=False, client_id=f"office-{folder.name}")
    time.sleep(0.3)
    acked = threading.Semaphore(0)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="plain-paho")
    client.max_inflight_messages_set(64)
    client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]

    def on_pub(*_args: object) -> None:
        acked.release()

    client.on_publish = on_pub
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    stop = threading.Event()
    t0 = time.perf_counter()
    k = killer(broker, kills, 0.6, stop) if kills else None
    for r in records:
        client.publish(f"{BASE}/{r.type}", r.jws, qos=1)
    confirmed = sum(acked.acquire(timeout=30) for _ in range(n))
    elapsed = time.perf_counter() - t0
    stop.set()
    if k:
        k.join()
    office.wait_for(n, 5)
    client.disconnect()
    client.loop_stop()
    office.close()
    return elapsed, n - office.count(), f"{confirmed} PUBACKs"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--kills", type=int, default=3)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)  # reconnect warnings are expected here
    n = args.records
    root = Path(tempfile.mkdtemp(prefix="delivery-bench-"))
    print(f"{n} records, local Mosquitto; kills: broker SIGKILLed {args.kills}x, 0.6 s apart")
    print(f"{'publisher':34} {'kills':>5} {'seconds':>8} {'rec/s':>8} {'lost':>6}  note")
    cases: list[tuple[str, int, Callable[[Broker, Path], tuple[float, int, str]]]] = []
    for k in sorted({0, args.kills}):
        cases += [
            ("plain paho QoS 1 loop", k, lambda b, f, k=k: run_plain_paho(b, f, n, k)),
            ("Publisher (PUBACK)", k, lambda b, f, k=k: run_publisher(b, f, n, False, k)),
            ("Publisher (end-to-end ack)", k, lambda b, f, k=k: run_publisher(b, f, n, True, k)),
        ]
    for i, (name, kills, fn) in enumerate(cases):
        broker = Broker(root / f"broker{i}")
        broker.start()
        try:
            elapsed, lost, note = fn(broker, root / f"case{i}")
        finally:
            broker.kill()
        print(
            f"{name:34} {kills:>5} {elapsed:8.2f} {n / elapsed:8.0f} {lost:>6}  {note}", flush=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
