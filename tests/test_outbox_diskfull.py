"""A full disk: the unit stays up, keeps everything stored and every new record (held in memory),
warns, and recovers by itself when space returns. Once with a size-limited database
(max_page_count), once on a real 2 MiB tmpfs in a private mount namespace."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge.config.site import OutboxConfig
from edge.outbox.errors import OutboxFullError
from edge.outbox.store import Outbox
from edge.records.jws import jws_hash
from edge.records.keys import SigningKey
from tests.test_records_builder import T0, make_writer, payload, vehicle_body, violation_body

REPO = Path(__file__).resolve().parent.parent


def assert_chain_intact(box: Outbox) -> list[int]:
    rows = box.pending(100_000)
    for before, after in itertools.pairwise(rows):
        assert after.seq == before.seq + 1
        assert payload(after.jws)["prev"] == jws_hash(before.jws)
    return [r.seq for r in rows]


def test_size_limited_database_fills_holds_and_recovers(tmp_path: Path) -> None:
    warned: list[str] = []
    box = Outbox(tmp_path / "o.sqlite", OutboxConfig(ballast_bytes=0), max_page_count=60,
                 on_warning=warned.append)  # fmt: skip
    writer = make_writer(box, SigningKey.generate())
    stored = 0
    with pytest.raises(OutboxFullError) as full:
        for _ in range(10_000):
            writer.write("violation", violation_body(), T0)
            stored += 1
    assert full.value.held and writer.held == 1
    assert 0 < stored < 10_000
    with pytest.raises(OutboxFullError):  # still full: the next one is held too, in order
        writer.write("vehicle", vehicle_body(), T0)
    assert writer.held == 2 and writer.retry_pending() == []
    stats = box.stats()
    assert stats.disk_full and stats.pending == stored and box.head()[0] == stored
    assert any("disk full" in w for w in warned)
    assert assert_chain_intact(box) == list(range(1, stored + 1)), "nothing stored was lost"

    box.mark_delivered(r.id for r in box.pending(20))  # the uplink drains some: space returns
    committed = writer.retry_pending()
    assert [r.seq for r in committed] == [stored + 1, stored + 2]
    assert [r.type for r in committed] == ["violation", "vehicle"], "held records keep order"
    assert writer.held == 0 and not box.stats().disk_full
    assert writer.write("vehicle", vehicle_body(), T0).seq == stored + 3
    assert_chain_intact(box)
    box.close()


_CHILD = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from edge.config.site import OutboxConfig
    from edge.outbox.errors import OutboxFullError
    from edge.outbox.store import Outbox
    from edge.records.keys import SigningKey
    from tests.test_records_builder import T0, make_writer, vehicle_body, violation_body

    mnt = Path(sys.argv[1])
    filler = mnt / "filler"
    filler.write_bytes(b"x" * 600_000)  # what some other process wrote; removed later
    box = Outbox(mnt / "o.sqlite", OutboxConfig(min_free_bytes=0, ballast_bytes=256 * 1024))
    ballast_at_start = (mnt / "o.sqlite.ballast").exists()
    writer = make_writer(box, SigningKey.generate())
    stored, full_error = 0, None
    for i in range(20_000):
        try:
            writer.write("violation" if i % 5 == 0 else "vehicle", vehicle_body(), T0)
            stored += 1
        except OutboxFullError as exc:
            full_error = str(exc)
            break
    at_full = box.stats()
    ballast_when_full = (mnt / "o.sqlite.ballast").exists()
    filler.unlink()
    recovered = writer.retry_pending()
    after = writer.write("vehicle", vehicle_body(), T0)
    end = box.stats()
    seqs = [r.seq for r in box.pending(100_000)]
    box.close()
    print(json.dumps({
        "stored": stored, "full_error": full_error, "at_full_pending": at_full.pending,
        "at_full_disk_full": at_full.disk_full, "ballast_at_start": ballast_at_start,
        "ballast_when_full": ballast_when_full, "recovered": [r.seq for r in recovered],
        "after": after.seq, "end_disk_full": end.disk_full, "seqs": seqs,
        "ballast_at_end": (mnt / "o.sqlite.ballast").exists(),
    }))
    """
)


def _tmpfs_runner() -> list[str] | None:
    """A command prefix that runs its argument with a fresh tmpfs mounted, or None."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    probe = subprocess.run(
        [unshare, "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True, check=False,
    )  # fmt: skip
    return [unshare, "-rm"] if probe.returncode == 0 else None


@pytest.mark.slow
def test_real_full_filesystem_keeps_records_and_recovers(tmp_path: Path) -> None:
    runner = _tmpfs_runner()
    if runner is None:
        pytest.skip("cannot mount a tmpfs here (needs unshare and user namespaces)")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    shell = 'mount -t tmpfs -o size=2m tmpfs "$1" && exec "$2" "$3" "$1"'
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [*runner, "sh", "-c", shell, "sh", str(mnt), sys.executable, str(script)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["full_error"] is not None, "the 2 MiB filesystem filled up"
    assert out["ballast_at_start"] and not out["ballast_when_full"], "ballast released"
    assert out["at_full_disk_full"] and out["at_full_pending"] == out["stored"]
    stored = out["stored"]
    assert out["recovered"] == [stored + 1], "the record refused at full disk was kept"
    assert out["after"] == stored + 2 and not out["end_disk_full"]
    assert out["seqs"] == list(range(1, stored + 3)), "nothing lost, nothing reused"
    assert out["ballast_at_end"], "ballast recreated once space returned"
