"""Serial links to weighing hardware, chosen by URL, read on a thread that survives unplugging.

URLs (pyserial `serial_for_url`):

- a device path. Prefer the stable `/dev/serial/by-id/usb-...` link over `/dev/ttyUSB0`: the
  by-id name follows the board across reboots and USB ports, and a reopen after an unplug finds
  the board again even if the kernel gives it another ttyUSB number. Opened exclusively (flock)
  so a second program cannot steal bytes.
- `socket://host:port`: a bench rig or a serial-to-Ethernet converter.
- `loop://`: a loopback port for tests.

`SerialReader` hands `(host_t_ns, bytes)` to a callback for every read. When the device goes
away (USB unplug, a pty closed, a TCP peer gone) it reports the source as down, keeps trying to
reopen it with exponential backoff, and reports when it is back. It never raises out of its
thread; its counters say what happened.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import serial

from edge.errors import SourceError

log = logging.getLogger(__name__)

Clock = Callable[[], int]  # nanoseconds, never decreasing
DataCallback = Callable[[int, bytes], None]
MAX_CHUNK = 64 * 1024


class SourceState(enum.Enum):
    """Where a serial source stands."""

    STARTING = "starting"  # not opened yet
    UP = "up"  # open and being read
    DOWN = "down"  # lost or not openable; reopening with backoff
    STOPPED = "stopped"  # stop() was called
    FAILED = "failed"  # the reader thread died of a bug (logged with its traceback)


StateCallback = Callable[[SourceState, str], None]


@dataclass(frozen=True)
class ReaderStats:
    """Counters of one reader since it was created."""

    state: SourceState
    bytes: int  # bytes handed to the callback
    reads: int  # non-empty reads
    opens: int  # successful opens (1 + times it came back)
    reopen_attempts: int  # open attempts that followed a failure or a loss
    downs: int  # times the source went down (including a first open that failed)
    downtime_ns: int  # total time down, including the current outage
    last_error: str


def port_settings(protocol: str) -> dict[str, Any]:
    """Character format per wire protocol: 7E1 for Toledo indicators, 8N1 for the rest."""
    if protocol == "toledo":
        return {
            "bytesize": serial.SEVENBITS,
            "parity": serial.PARITY_EVEN,
            "stopbits": serial.STOPBITS_ONE,
        }
    return {
        "bytesize": serial.EIGHTBITS,
        "parity": serial.PARITY_NONE,
        "stopbits": serial.STOPBITS_ONE,
    }


def open_port(url: str, baud: int, protocol: str = "lcs1", timeout_s: float = 0.05) -> Any:
    """Open a port by URL (device path, socket://, loop://); SourceError naming it if it fails.

    `timeout_s` bounds each read so the reader thread notices stop() promptly.
    """
    extra: dict[str, Any] = {} if "://" in url else {"exclusive": True}
    try:
        return serial.serial_for_url(
            url, baudrate=baud, timeout=timeout_s, **port_settings(protocol), **extra
        )
    except (serial.SerialException, OSError, ValueError) as exc:
        raise SourceError(f"serial port {url}: cannot open: {exc}") from None


Opener = Callable[[str, int, str], Any]


def _default_opener(url: str, baud: int, protocol: str) -> Any:
    return open_port(url, baud, protocol)


class SerialReader:
    """Read one serial source on a thread; reopen it with backoff when it goes away."""

    def __init__(
        self,
        name: str,
        url: str,
        baud: int,
        on_data: DataCallback,
        *,
        clock: Clock,
        protocol: str = "lcs1",
        reopen_min_s: float = 0.1,
        reopen_max_s: float = 10.0,
        on_state: StateCallback | None = None,
        opener: Opener = _default_opener,
    ) -> None:
        self.name = name
        self.url = url
        self._baud = baud
        self._protocol = protocol
        self._on_data = on_data
        self._on_state = on_state
        self._clock = clock
        self._reopen_min_s = min(reopen_min_s, reopen_max_s)
        self._reopen_max_s = reopen_max_s
        self._opener = opener
        self._port: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._state = SourceState.STARTING
        self._down_since: int | None = None
        self._n = {"bytes": 0, "reads": 0, "opens": 0, "reopen_attempts": 0, "downs": 0}
        self._downtime_ns = 0
        self._last_error = ""

    @property
    def state(self) -> SourceState:
        """The current state."""
        return self._state

    def stats(self) -> ReaderStats:
        """A frozen snapshot of the counters."""
        with self._lock:
            down = self._downtime_ns
            if self._down_since is not None:
                down += self._clock() - self._down_since
            return ReaderStats(
                state=self._state,
                downtime_ns=down,
                last_error=self._last_error,
                **self._n,
            )

    def start(self, *, require_open: bool = False) -> None:
        """Start the reader thread. With `require_open`, open the port first and raise
        SourceError if that fails (for commands where a wrong path is a user error)."""
        if self._thread is not None:
            raise RuntimeError("reader already started")
        if require_open:
            self._port = self._opener(self.url, self._baud, self._protocol)
            self._went_up()
        self._thread = threading.Thread(target=self._main, name=f"serial-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop reading and close the port; the callback is not called after this returns."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._close()
        with self._lock:
            if self._down_since is not None:
                self._downtime_ns += self._clock() - self._down_since
                self._down_since = None
        self._set_state(SourceState.STOPPED, "stopped")

    def _main(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # the thread's top level: a bug, logged and reported
            log.exception("serial %s: reader thread failed", self.name)
            self._last_error = f"reader failed: {exc!r}"
            self._close()
            self._set_state(SourceState.FAILED, self._last_error)

    def _loop(self) -> None:
        delay = self._reopen_min_s
        while not self._stop.is_set():
            if self._port is None:
                if not self._try_open():
                    self._stop.wait(delay)
                    delay = min(delay * 2, self._reopen_max_s)
                    continue
                delay = self._reopen_min_s
            try:
                data = self._read_chunk()
            except (serial.SerialException, OSError) as exc:
                self._close()
                self._went_down(f"read failed: {exc}")
                continue
            if data:
                with self._lock:
                    self._n["reads"] += 1
                    self._n["bytes"] += len(data)
                self._on_data(self._clock(), data)

    def _try_open(self) -> bool:
        if self._n["opens"] or self._n["downs"]:
            with self._lock:
                self._n["reopen_attempts"] += 1
        try:
            self._port = self._opener(self.url, self._baud, self._protocol)
        except SourceError as exc:
            self._went_down(str(exc))
            return False
        self._went_up()
        return True

    def _read_chunk(self) -> bytes:
        """Wait up to the port timeout for one byte, then take whatever else is waiting."""
        port = self._port
        first: bytes = port.read(1)
        if not first:
            return b""
        waiting = int(port.in_waiting)
        return first + port.read(min(waiting, MAX_CHUNK)) if waiting else first

    def _close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError) as exc:
                log.debug("serial %s: close failed: %s", self.name, exc)

    def _went_down(self, reason: str) -> None:
        self._last_error = reason
        if self._state is SourceState.DOWN:
            log.debug("serial %s: still down: %s", self.name, reason)
            return
        with self._lock:
            self._n["downs"] += 1
            self._down_since = self._clock()
        log.warning(
            "serial source=%s url=%s state=down reason=%s retry_max_s=%.1f",
            self.name,
            self.url,
            reason,
            self._reopen_max_s,
        )
        self._set_state(SourceState.DOWN, reason)

    def _went_up(self) -> None:
        with self._lock:
            self._n["opens"] += 1
            since, self._down_since = self._down_since, None
            outage = 0 if since is None else self._clock() - since
            self._downtime_ns += outage
        if since is None:
            log.info("serial source=%s url=%s state=up", self.name, self.url)
            reason = "opened"
        else:
            log.warning(
                "serial source=%s url=%s state=up down_s=%.1f", self.name, self.url, outage / 1e9
            )
            reason = f"back after {outage / 1e9:.1f} s"
        self._set_state(SourceState.UP, reason)

    def _set_state(self, state: SourceState, reason: str) -> None:
        if state is self._state:
            return
        self._state = state
        if self._on_state is not None:
            self._on_state(state, reason)
