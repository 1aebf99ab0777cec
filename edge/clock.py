"""Is the system clock disciplined? Records carry the answer (records.md `clock`).

Reads the kernel's NTP state with a read-only adjtimex(2) call (modes = 0 needs no privilege):
TIME_ERROR or STA_UNSYNC means the clock is not synchronised; `esterror` is the kernel's
estimated error, reported as the offset bound in milliseconds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

TIME_ERROR = 5
STA_UNSYNC = 0x0040


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    # struct timex of <sys/timex.h>; ctypes applies the same natural alignment as the C compiler.
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    ]


@dataclass(frozen=True)
class ClockState:
    """The kernel's view of the clock."""

    synced: bool
    est_error_ms: float | None
    detail: str


def read_clock_state() -> ClockState:
    """Query adjtimex(2); on a system without it, report unsynchronised with the reason."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError) as exc:
        return ClockState(False, None, f"adjtimex unavailable: {exc}")
    if state < 0:
        return ClockState(False, None, f"adjtimex failed: errno {ctypes.get_errno()}")
    synced = state != TIME_ERROR and not (tx.status & STA_UNSYNC)
    est_ms = tx.esterror / 1000.0
    detail = "synchronised" if synced else "not synchronised (no NTP/GPS discipline)"
    return ClockState(synced, est_ms if synced else None, f"{detail}, est. error {est_ms:.1f} ms")
