"""A small stand-in for the unit process, for the crash tests: it signs records into an outbox on
disk and publishes them with the real Publisher.

    python -m tests.unit_standin --outbox DIR/outbox.db --key DIR/key.pem --broker URL --total N

Killed at any point and started again on the same outbox, it continues the chain where the
outbox says it stopped and exits 0 once all N records are written and delivered.
Also a library: `append_records` fills an outbox with real signed records for other tests.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from edge.config.site import MqttConfig, OutboxConfig
from edge.delivery.publisher import Publisher
from edge.outbox.store import Append, Outbox, StoredRecord
from edge.records.evidence import EvidenceFile
from edge.records.ids import Uuid7Generator
from edge.records.jws import encode_json, protected_header, sign_compact
from edge.records.keys import SigningKey, jwks

SITE = "site-a"
DEVICE = "unit-1"
_IDS = Uuid7Generator()


def record_maker(
    key: SigningKey, rtype: str, now_ns: int, evidence: Sequence[EvidenceFile] = ()
) -> Callable[[int, str | None], tuple[str, str, str]]:
    """A `make(seq, prev)` for Outbox.append_signed that signs a minimal record of `rtype`."""
    header = protected_header(key.kid)
    rid = _IDS.new(now_ns)

    def make(seq: int, prev: str | None) -> tuple[str, str, str]:
        body = {
            "schema": "roadside.record/1",
            "type": rtype,
            "id": rid,
            "site": SITE,
            "device": DEVICE,
            "seq": seq,
            "prev": prev,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now_ns / 1e9)),
            "evidence": [e.as_record_entry() for e in evidence],
        }
        return rid, rtype, sign_compact(encode_json(body), key, header)

    return make


def append_records(
    outbox: Outbox,
    key: SigningKey,
    n: int,
    rtype: str | Callable[[int], str] = "vehicle",
    evidence: Callable[[int], Sequence[EvidenceFile]] | None = None,
) -> list[StoredRecord]:
    """Append `n` signed records in one transaction; `rtype` may depend on the index."""
    items = []
    for i in range(n):
        t = rtype(i) if callable(rtype) else rtype
        ev = tuple(evidence(i)) if evidence else ()
        now = time.time_ns()
        items.append(Append(record_maker(key, t, now, ev), now, ev))
    return outbox.append_many(items)


def load_or_make_key(path: Path) -> SigningKey:
    """The stand-in's signing key, kept on disk so a restart signs with the same kid."""
    if path.exists():
        return SigningKey.load(path)
    key = SigningKey.generate()
    key.save(path)
    return key


def main(argv: Sequence[str] | None = None) -> int:
    """Write records up to --total, publish them, exit 0 when all are delivered."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--outbox", type=Path, required=True)
    ap.add_argument("--key", type=Path, required=True)
    ap.add_argument("--broker", required=True)
    ap.add_argument("--total", type=int, required=True)
    ap.add_argument("--batch", type=int, default=5, help="records per append")
    ap.add_argument("--interval", type=float, default=0.005, help="seconds between appends")
    ap.add_argument("--end-to-end-ack", action="store_true")
    ap.add_argument("--ack-timeout", type=float, default=2.0)
    ap.add_argument("--drain-timeout", type=float, default=60.0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    key = load_or_make_key(args.key)
    outbox = Outbox(args.outbox, OutboxConfig(min_free_bytes=0, ballast_bytes=0))
    cfg = MqttConfig(
        url=args.broker,
        end_to_end_ack=args.end_to_end_ack,
        ack_timeout_s=args.ack_timeout,
        reconnect_min_s=0.1,
        reconnect_max_s=0.5,
        health_interval_s=1.0,
    )
    birth = {"software": "standin", "kid": key.kid}
    pub = Publisher(cfg, outbox, SITE, DEVICE, jwks([key.public_jwk()]), birth)
    pub.start()
    while (done := outbox.head()[0]) < args.total:
        append_records(outbox, key, min(args.batch, args.total - done), _type_of)
        pub.notify()
        print(f"written {outbox.head()[0]}", flush=True)
        time.sleep(args.interval)
    left = pub.drain(args.drain_timeout)
    pub.stop()
    outbox.close()
    print(f"remaining {left}", flush=True)
    return 0 if left == 0 else 1


def _type_of(i: int) -> str:
    return "violation" if i % 7 == 3 else "vehicle"


if __name__ == "__main__":
    sys.exit(main())
