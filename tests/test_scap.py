"""SCAP1 capture files: round trip, a truncated tail, and malformed files named by offset."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from drivers.scap import ScapReader, ScapWriter
from edge.errors import CaptureError

T0 = 1_763_705_730_000_000_000


def write(path: Path, chunks: list[tuple[int, bytes]]) -> None:
    with ScapWriter(
        path, port="/dev/ttyUSB0", baud=921600, protocol="lcs1", t0_unix_ns=T0, source="wim0"
    ) as w:
        for t, data in chunks:
            w.write(t, data)


def test_round_trip_keeps_times_bytes_and_header(tmp_path: Path) -> None:
    chunks = [(0, b"\xa5\x5a\x01"), (1_000_000, b""), (1_000_000, bytes(range(256)) * 3)]
    path = tmp_path / "wim0.scap"
    write(path, chunks)
    with ScapReader(path) as r:
        assert (r.header.port, r.header.baud, r.header.protocol) == ("/dev/ttyUSB0", 921600, "lcs1")
        assert r.header.t0_unix_ns == T0
        assert r.header.extra == {"source": "wim0"}
        assert [(c.t_ns, c.data) for c in r] == chunks
        assert not r.truncated


def test_spec_layout_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "x.scap"
    write(path, [(5, b"AB")])
    raw = path.read_bytes()
    header_end = raw.index(b"\n", 6) + 1
    assert raw[:6] == b"SCAP1\n"
    # u64 LE t_ns | u32 LE n | n bytes
    assert raw[header_end:] == struct.pack("<QI", 5, 2) + b"AB"


def test_truncated_last_record_is_dropped_without_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.scap"
    write(path, [(1, b"first"), (2, b"second-record")])
    path.write_bytes(path.read_bytes()[:-4])  # the recorder died mid-write
    with ScapReader(path) as r:
        assert [c.data for c in r] == [b"first"]
        assert r.truncated


def test_time_going_back_is_an_error_naming_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "back.scap"
    write(path, [(10, b"a")])
    offset = path.stat().st_size
    with path.open("ab") as f:
        f.write(struct.pack("<QI", 9, 1) + b"b")
    with ScapReader(path) as r, pytest.raises(CaptureError, match=f"offset {offset}"):
        list(r)


def test_writer_refuses_time_going_back(tmp_path: Path) -> None:
    with ScapWriter(tmp_path / "w.scap", "p", 1, "lcs1", T0) as w:
        w.write(10, b"x")
        with pytest.raises(ValueError, match="goes back"):
            w.write(9, b"y")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"SCAP2\n{}\n", "offset 0: not a SCAP1"),
        (b"SCAP1\nnot json\n", "offset 6: header is not UTF-8 JSON"),
        (b'SCAP1\n{"port": "p", "baud": 1, "protocol": "lcs1"}\n', "lacks key"),
        (b'SCAP1\n{"port": "p"', "header line not terminated"),
    ],
)
def test_malformed_files_are_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.scap"
    path.write_bytes(content)
    with pytest.raises(CaptureError, match=message):
        ScapReader(path)


def test_records_are_on_disk_before_close(tmp_path: Path) -> None:
    # A recorder killed without close() loses at most the record being written.
    path = tmp_path / "live.scap"
    w = ScapWriter(path, "p", 1, "lcs1", T0)
    w.write(1, b"vehicle")
    with ScapReader(path) as r:
        assert [c.data for c in r] == [b"vehicle"]
    w.close()


def test_missing_file_is_a_capture_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="not found"):
        ScapReader(tmp_path / "none.scap")
