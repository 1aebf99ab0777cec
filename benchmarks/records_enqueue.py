"""Records/s signed (Ed25519) and durably committed (SQLite WAL, synchronous=FULL), and RSS
while a backlog of undelivered records waits in the outbox.

    .venv/bin/python benchmarks/records_enqueue.py [--records 5000] [--backlog 100000] [--dir D]

Prints one JSON object. `--dir` chooses the filesystem (default: a temporary folder); run it
on the unit's data disk for numbers that matter there.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss_kib() -> int:
    """Current resident set size (Linux /proc), KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> int:
    from edge.config.site import OutboxConfig
    from edge.outbox.store import Outbox
    from edge.records.keys import SigningKey
    from tests.test_records_builder import T0, make_writer, vehicle_body

    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=5000, help="timed single writes")
    ap.add_argument("--backlog", type=int, default=100_000, help="undelivered records to hold")
    ap.add_argument("--dir", type=Path, default=None)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=opts.dir) as tmp:
        box = Outbox(Path(tmp) / "outbox.sqlite", OutboxConfig(ballast_bytes=0))
        writer = make_writer(box, SigningKey.generate())
        body = vehicle_body()
        t = time.perf_counter()
        for _ in range(opts.records):
            writer.write("vehicle", body, T0)  # one transaction, one fsync each
        single = opts.records / (time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(opts.records // 10):
            writer.write_many([("vehicle", body, T0, ())] * 10)
        batched = opts.records // 10 * 10 / (time.perf_counter() - t)

        rss = [rss_kib()]
        while box.stats().pending < opts.backlog:
            writer.write_many([("vehicle", body, T0, ())] * 100)
            if box.stats().pending % 20_000 == 0:
                rss.append(rss_kib())
        for _ in range(50):  # the delivery side reading the head of a big backlog
            box.pending(64)
        rss.append(rss_kib())
        stats = box.stats()
        box.close()
    print(json.dumps({
        "records_per_s_single": round(single),
        "records_per_s_batch10": round(batched),
        "backlog": stats.pending,
        "db_mib": round(stats.db_bytes / 2**20, 1),
        "rss_kib_samples": rss,
        "rss_growth_kib": rss[-1] - rss[0],
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
