"""sd_notify: systemd hears READY and WATCHDOG on a real unix datagram socket."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from edge.sdnotify import Notifier, watchdog_interval_s


def test_notifier_sends_states_to_the_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.settimeout(2)
        n = Notifier(path)
        assert n.ready("2 lanes up")
        assert server.recv(1024) == b"READY=1\nSTATUS=2 lanes up"
        assert n.watchdog()
        assert server.recv(1024) == b"WATCHDOG=1"


def test_outside_systemd_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    n = Notifier()
    assert not n.enabled
    assert not n.watchdog()


def test_watchdog_interval_is_half_of_watchdog_sec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval_s() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process
    assert watchdog_interval_s() is None
