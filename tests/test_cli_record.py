"""`edge record` end to end: a pty plays the LCS1 board, the capture replays identically."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tty
from pathlib import Path

import numpy as np
import pytest
import yaml

from drivers.scap import ScapReader
from edge.bench.scenario import Scenario
from edge.config import load_site
from edge.wim.protocols.lcs1 import Lcs1Frame
from edge.wim.protocols.lcs1_stream import Lcs1StreamParser

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "config" / "reference-site.yaml"


def site_on(tmp_path: Path, url: str) -> Path:
    """The reference site with its LCS1 board on `url`."""
    data = yaml.safe_load(REFERENCE.read_text(encoding="utf-8"))
    data["serial"]["wim0"]["url"] = url
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def frames(n: int) -> list[Lcs1Frame]:
    """n reference-site frames: 8 channels, 20 samples at 2000 Hz."""
    rng = np.random.default_rng(7)
    return [
        Lcs1Frame(
            seq=i,
            t_us=i * 10_000,
            rate=2000,
            samples=rng.integers(-50_000, 50_000, (20, 8)).astype(np.int32),
        )
        for i in range(n)
    ]


def start_record(site: Path, out: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """Start the recorder; return it and what it said on stderr until it was recording."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "record", "--config", str(site), "--out", str(out), *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    # Wait for the recorder to say it has the port open (bytes sent before that are flushed
    # by the open, as on a real port).
    said = ""
    for line in proc.stderr:
        said += line
        if "recording" in line:
            return proc, said
    proc.wait(30)
    raise AssertionError(f"recorder did not start: rc={proc.returncode}")


def check_capture(out: Path, sent: list[Lcs1Frame], t0_before: int) -> None:
    scenario = Scenario(out)  # the folder is a valid scenario
    assert t0_before <= scenario.t0_unix_ns <= time.time_ns()
    assert scenario.site_path() == out / "site.yaml"
    assert load_site(out / "site.yaml").site.id == "reference-site"
    parser = Lcs1StreamParser()
    got: list[Lcs1Frame] = []
    last_t = -1
    with ScapReader(scenario.serial_path("wim0")) as reader:
        assert (reader.header.protocol, reader.header.baud) == ("lcs1", 921600)
        assert reader.header.t0_unix_ns == scenario.t0_unix_ns
        for chunk in reader:
            assert chunk.t_ns >= last_t
            last_t = chunk.t_ns
            got += parser.feed(chunk.data)
        assert not reader.truncated
    assert [f.seq for f in got] == [f.seq for f in sent]
    for a, b in zip(got, sent, strict=True):
        assert (a.t_us, a.rate, a.flags) == (b.t_us, b.rate, b.flags)
        assert np.array_equal(a.samples, b.samples)
    s = parser.stats()
    assert (s.crc_errors, s.bytes_skipped, s.lost_frames, s.buffered) == (0, 0, 0, 0)


@pytest.mark.slow
def test_record_seconds_then_replay_capture_gives_identical_frames(tmp_path: Path) -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        site = site_on(tmp_path, os.ttyname(slave))
        out = tmp_path / "rec"
        t0_before = time.time_ns()
        proc, said = start_record(site, out, "--seconds", "2")
        sent = frames(200)
        for i in range(0, len(sent), 10):  # bursts, like a board streaming
            os.write(master, b"".join(f.to_bytes() for f in sent[i : i + 10]))
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
        assert "wim0:" in stdout
        assert "lane1_front" in said  # the reference site's camera is recorded too
        check_capture(out, sent, t0_before)
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.slow
def test_ctrl_c_ends_the_recording_cleanly(tmp_path: Path) -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        site = site_on(tmp_path, os.ttyname(slave))
        out = tmp_path / "rec"
        t0_before = time.time_ns()
        proc, _ = start_record(site, out)
        sent = frames(50)
        data = b"".join(f.to_bytes() for f in sent)
        os.write(master, data)
        # Interrupt only once the recorder has the bytes (it flushes every record).
        capture = out / "wim0.scap"
        deadline = time.monotonic() + 30
        while capture.stat().st_size < len(data) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
        check_capture(out, sent, t0_before)
    finally:
        os.close(master)
        os.close(slave)


def test_missing_port_is_one_line_and_leaves_no_capture(tmp_path: Path) -> None:
    site = site_on(tmp_path, str(tmp_path / "usb-not-plugged"))
    out = tmp_path / "rec"
    proc = subprocess.run(
        [sys.executable, "-m", "edge", "record", "--config", str(site), "--out", str(out)],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "usb-not-plugged" in proc.stderr
    assert not list(out.glob("*.scap"))


def test_non_empty_output_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    out.mkdir()
    (out / "keep.txt").write_text("earlier recording", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "edge", "record", "--config", str(REFERENCE), "--out", str(out)],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "not empty" in proc.stderr
    assert (out / "keep.txt").read_text(encoding="utf-8") == "earlier recording"
