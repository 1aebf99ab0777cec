"""`edge replay --broker`: what the replay signed is what the back office receives, and the
command only returns once every record is delivered (or says how many were not)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli.main import main
from tests.conftest import REPO
from tests.mosquitto import BackOffice, Broker, broker, free_port  # noqa: F401 (fixture)

FIXTURE = REPO / "tests" / "fixtures" / "reference-short"
BASE = "roadside/reference-site/cabinet-01"


def test_replay_delivers_every_record_end_to_end(broker: Broker, tmp_path: Path) -> None:  # noqa: F811
    office = BackOffice(broker.url, BASE, ack=True)
    try:
        rc = main(
            [
                "replay",
                str(FIXTURE),
                "--out",
                str(tmp_path / "o"),
                "--broker",
                broker.url,
                "--end-to-end-ack",
                "--drain-timeout",
                "60",
            ]
        )
        assert rc == 0
        signed = (tmp_path / "o" / "records.jws").read_text().splitlines()
        assert office.wait_for(len(signed), 10)
        office.check_stream(len(signed))
        received = {copies[0].decode() for copies in office.records.values()}
        assert received == set(signed)
        assert "keys" in office.order and "status" in office.order
    finally:
        office.close()


def test_replay_without_a_broker_says_how_many_remain(tmp_path: Path) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens there
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge",
            "replay",
            str(FIXTURE),
            "--out",
            str(tmp_path / "o"),
            "--broker",
            url,
            "--drain-timeout",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    signed = (tmp_path / "o" / "records.jws").read_text().splitlines()
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("edge replay: error:")
    assert f"{len(signed)} record(s) not delivered" in last
    assert "outbox.sqlite" in last
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("bad", ["mqtt://", "http://x:1"])
def test_bad_broker_url_is_one_line(
    bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(FIXTURE), "--out", str(tmp_path / "o"), "--broker", bad]) == 2
    err = capsys.readouterr().err
    assert "mqtt://host[:port]" in err
    assert "Traceback" not in err
