"""Serial driver against real ptys and a real TCP socket: data, unplug, re-plug."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import tty
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drivers.serial import SerialReader, SourceState, open_port
from edge.errors import SourceError


def wait_for(cond: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    """Poll until cond() holds (a bounded wait, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


class Pty:
    """A real pty pair; the master side plays the board."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no line discipline games with binary frames
        self.path = os.ttyname(self.slave)

    def unplug(self) -> None:
        os.close(self.master)
        os.close(self.slave)


class Sink:
    """Collects what the reader hands over, and the state changes."""

    def __init__(self) -> None:
        self.chunks: list[tuple[int, bytes]] = []
        self.states: list[tuple[SourceState, str]] = []
        self.lock = threading.Lock()

    def data(self, t_ns: int, data: bytes) -> None:
        with self.lock:
            self.chunks.append((t_ns, data))

    def state(self, state: SourceState, reason: str) -> None:
        self.states.append((state, reason))

    def received(self) -> bytes:
        with self.lock:
            return b"".join(d for _, d in self.chunks)


@pytest.fixture
def by_id(tmp_path: Path) -> Iterator[tuple[Path, list[Pty]]]:
    """A stable link like /dev/serial/by-id/... pointing at the current pty."""
    ptys = [Pty()]
    link = tmp_path / "usb-reference-lcs1-board-if00"
    link.symlink_to(ptys[0].path)
    yield link, ptys
    for p in ptys:
        for fd in (p.master, p.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def repoint(link: Path, target: str) -> None:
    tmp = link.with_name(link.name + ".new")
    tmp.symlink_to(target)
    tmp.replace(link)  # atomic, like udev updating /dev/serial/by-id


def test_pty_data_flows_with_host_times(by_id: tuple[Path, list[Pty]]) -> None:
    link, ptys = by_id
    sink = Sink()
    ticks = iter(range(1000, 10**9, 1000))
    reader = SerialReader("wim0", str(link), 921600, sink.data, clock=lambda: next(ticks))
    reader.start(require_open=True)
    try:
        payload = bytes(range(256)) * 40
        os.write(ptys[0].master, payload)
        assert wait_for(lambda: len(sink.received()) >= len(payload))
        assert sink.received() == payload
        times = [t for t, _ in sink.chunks]
        assert times == sorted(times)
        st = reader.stats()
        assert (st.state, st.bytes, st.reads) == (SourceState.UP, len(payload), len(sink.chunks))
    finally:
        reader.stop()
    assert reader.state is SourceState.STOPPED


def test_unplug_reports_down_and_replug_at_the_same_path_comes_back(
    by_id: tuple[Path, list[Pty]], caplog: pytest.LogCaptureFixture
) -> None:
    link, ptys = by_id
    sink = Sink()
    reader = SerialReader(
        "wim0",
        str(link),
        921600,
        sink.data,
        clock=time.monotonic_ns,
        reopen_max_s=0.2,
        on_state=sink.state,
    )
    reader.start(require_open=True)
    try:
        os.write(ptys[0].master, b"before")
        assert wait_for(lambda: sink.received() == b"before")
        ptys[0].unplug()
        assert wait_for(lambda: reader.state is SourceState.DOWN)
        assert "state=down" in caplog.text
        assert wait_for(lambda: reader.stats().reopen_attempts >= 2)  # it keeps trying

        ptys.append(Pty())
        repoint(link, ptys[1].path)
        assert wait_for(lambda: reader.state is SourceState.UP)
        os.write(ptys[1].master, b"after")
        assert wait_for(lambda: sink.received() == b"beforeafter")
        st = reader.stats()
        assert (st.opens, st.downs) == (2, 1)
        assert st.downtime_ns > 0
        assert [s for s, _ in sink.states] == [SourceState.UP, SourceState.DOWN, SourceState.UP]
        assert sink.states[-1][1].startswith("back after")
    finally:
        reader.stop()


def test_missing_device_is_a_source_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="usb-missing"):
        open_port(str(tmp_path / "usb-missing"), 115200)
    reader = SerialReader(
        "x", str(tmp_path / "usb-missing"), 9600, Sink().data, clock=time.monotonic_ns
    )
    with pytest.raises(SourceError):
        reader.start(require_open=True)


def test_reader_started_before_the_board_is_plugged_in(tmp_path: Path) -> None:
    link = tmp_path / "usb-late-board"
    sink = Sink()
    reader = SerialReader(
        "wim0", str(link), 921600, sink.data, clock=time.monotonic_ns, reopen_max_s=0.1
    )
    reader.start()
    pty = Pty()
    try:
        assert wait_for(lambda: reader.state is SourceState.DOWN)
        link.symlink_to(pty.path)
        assert wait_for(lambda: reader.state is SourceState.UP)
        os.write(pty.master, b"hello")
        assert wait_for(lambda: sink.received() == b"hello")
    finally:
        reader.stop()
        pty.unplug()


def test_device_is_opened_exclusively(by_id: tuple[Path, list[Pty]]) -> None:
    link, _ = by_id
    first = open_port(str(link), 921600)
    try:
        with pytest.raises(SourceError, match="lock"):
            open_port(str(link), 921600)
    finally:
        first.close()


def test_socket_url_against_a_tcp_bench_rig() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    sink = Sink()
    reader = SerialReader(
        "rig",
        f"socket://127.0.0.1:{port}",
        115200,
        sink.data,
        clock=time.monotonic_ns,
        reopen_max_s=0.2,
        on_state=sink.state,
        protocol="wvr1",
    )
    reader.start(require_open=True)
    try:
        conn, _ = server.accept()
        conn.sendall(b"$WVR1,first")
        assert wait_for(lambda: sink.received() == b"$WVR1,first")
        conn.close()  # the rig drops the link
        assert wait_for(lambda: SourceState.DOWN in [s for s, _ in sink.states])
        conn2, _ = server.accept()  # the reader reconnects by itself
        assert wait_for(
            lambda: [s for s, _ in sink.states][-2:] == [SourceState.DOWN, SourceState.UP]
        )
        conn2.sendall(b",second")
        assert wait_for(lambda: sink.received() == b"$WVR1,first,second")
        conn2.close()
    finally:
        reader.stop()
        server.close()


def test_loop_url() -> None:
    port = open_port("loop://", 9600)
    try:
        port.write(b"ping")
        assert port.read(4) == b"ping"
    finally:
        port.close()
