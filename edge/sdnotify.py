"""systemd notification protocol (sd_notify(3)) without a library: READY, WATCHDOG, STATUS.

Outside systemd ($NOTIFY_SOCKET unset) every call is a no-op, so the service runs the same
from a shell.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class Notifier:
    """Sends datagrams to $NOTIFY_SOCKET; `enabled` is False outside systemd."""

    def __init__(self, address: str | None = None) -> None:
        addr = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        if addr.startswith("@"):  # abstract socket namespace
            addr = "\0" + addr[1:]
        self._addr = addr
        self.enabled = bool(addr)

    def notify(self, state: str) -> bool:
        """Send one state string (e.g. "READY=1"); False when not under systemd or on error."""
        if not self.enabled:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(state.encode("utf-8"), self._addr)
        except OSError as exc:
            log.warning("sd_notify failed: %s", exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """The service is up."""
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> bool:
        """Feed the watchdog: only call while the pipeline makes progress."""
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """A one-line status shown by `systemctl status`."""
        return self.notify(f"STATUS={text}")

    def stopping(self) -> bool:
        """The service is shutting down."""
        return self.notify("STOPPING=1")


def watchdog_interval_s() -> float | None:
    """Half of systemd's WatchdogSec (from $WATCHDOG_USEC), or None when there is no watchdog."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2e6
    except ValueError:
        return None
