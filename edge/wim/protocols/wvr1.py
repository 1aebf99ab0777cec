"""WVR1: one ASCII line per vehicle from a WIM controller (specs/serial.md section 2). Sans-IO.

    $WVR1,<seq>,<lane>,<time>,<speed_kmh>,<naxles>,<loads>,<spacings>,<gvw_kg>,<flags>*<HH>\\r\\n

A line with a bad checksum, a wrong field, or loads that do not sum to gvw within 1 kg is
rejected and counted, never repaired. Lines may arrive split anywhere across reads.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from edge.wim.model import Axle, WeighedVehicle

MAX_LINE = 512  # the longest valid line (13 axles, 10-digit numbers) is under 300 bytes
SUM_TOLERANCE_KG = 1
_SEQ_MOD = 1 << 32
_NFIELDS = 10  # WVR1 + nine data fields
_UINT = re.compile(r"\d{1,10}")
_SPEED = re.compile(r"\d{1,3}(\.\d{1,3})?")
_FLAGS = re.compile(r"[0-9A-Fa-f]{1,8}")
_TIME = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?:\.(\d{1,9}))?")
_CHECKSUM = re.compile(rb"[0-9A-Fa-f]{2}")

# Flag bits -> WeighedVehicle.quality names.
FLAG_NAMES = {1: "lane_change", 2: "speed_change", 4: "off_scale", 8: "sensor_fault"}
_KNOWN_FLAGS = 0xF


@dataclass(frozen=True)
class Wvr1Record:
    """One vehicle as the controller reported it."""

    seq: int
    lane: int
    time_ns: int  # UTC, ns since the Unix epoch: first axle on the first sensor row
    speed_kmh: float
    loads_kg: tuple[int, ...]
    spacings_mm: tuple[int, ...]  # len(loads_kg) - 1
    gvw_kg: int
    flags: int


@dataclass(frozen=True)
class Wvr1Stats:
    """Counters of one parser since it was created."""

    records: int = 0  # records returned
    bytes: int = 0  # bytes fed
    checksum_errors: int = 0  # missing or wrong *HH
    field_errors: int = 0  # wrong field count or a field that does not parse
    sum_errors: int = 0  # loads differ from gvw by more than 1 kg
    framing_errors: int = 0  # line cut by a new '$' or longer than MAX_LINE
    lost_records: int = 0  # records missing by seq gaps (wrap 2^32 aware)
    seq_restarts: int = 0  # seq went backwards: the controller restarted
    garbage_bytes: int = 0  # bytes outside any line (CR and LF between lines not counted)


class _FieldError(ValueError):
    """A field does not parse; the message names it."""


def _uint(text: str, name: str) -> int:
    if not _UINT.fullmatch(text):
        raise _FieldError(f"{name}={text!r}")
    return int(text)


def _int_list(text: str, count: int, name: str) -> tuple[int, ...]:
    parts = text.split(";")
    if len(parts) != count:
        raise _FieldError(f"{name}: {len(parts)} values, expected {count}")
    return tuple(_uint(p, name) for p in parts)


def _time_ns(text: str) -> int:
    m = _TIME.fullmatch(text)
    if not m:
        raise _FieldError(f"time={text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac = m.group(7) or ""
    try:
        # datetime checks the calendar (month lengths, leap years) that timegm would not.
        stamp = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise _FieldError(f"time={text!r}") from None
    secs = calendar.timegm(stamp.utctimetuple())
    return secs * 1_000_000_000 + int(frac.ljust(9, "0"))


def parse_wvr1_fields(body: str) -> Wvr1Record:
    """Parse the text between '$' and '*' (checksum already checked); _FieldError if bad."""
    f = body.split(",")
    if len(f) != _NFIELDS or f[0] != "WVR1":
        raise _FieldError(f"{len(f)} fields, expected {_NFIELDS} starting with WVR1")
    seq = _uint(f[1], "seq")
    lane = _uint(f[2], "lane")
    if seq >= _SEQ_MOD or lane < 1:
        raise _FieldError(f"seq={seq} lane={lane}")
    if not _SPEED.fullmatch(f[4]):
        raise _FieldError(f"speed_kmh={f[4]!r}")
    naxles = _uint(f[5], "naxles")
    if not 2 <= naxles <= 13:
        raise _FieldError(f"naxles={naxles}")
    if not _FLAGS.fullmatch(f[9]):
        raise _FieldError(f"flags={f[9]!r}")
    return Wvr1Record(
        seq=seq,
        lane=lane,
        time_ns=_time_ns(f[3]),
        speed_kmh=float(f[4]),
        loads_kg=_int_list(f[6], naxles, "loads"),
        spacings_mm=_int_list(f[7], naxles - 1, "spacings"),
        gvw_kg=_uint(f[8], "gvw_kg"),
        flags=int(f[9], 16),
    )


def wvr1_checksum(body: bytes) -> int:
    """XOR of every byte of `body` (the bytes between '$' and '*')."""
    x = 0
    for b in body:
        x ^= b
    return x


def format_wvr1(rec: Wvr1Record) -> bytes:
    """Encode a record as one line with checksum and CRLF (for simulators and tests)."""
    secs, frac_ns = divmod(rec.time_ns, 1_000_000_000)
    tm = time.gmtime(secs)
    stamp = (
        f"{tm.tm_year:04d}{tm.tm_mon:02d}{tm.tm_mday:02d}T"
        f"{tm.tm_hour:02d}{tm.tm_min:02d}{tm.tm_sec:02d}.{frac_ns // 1_000_000:03d}"
    )
    body = (
        f"WVR1,{rec.seq},{rec.lane},{stamp},{rec.speed_kmh:.1f},{len(rec.loads_kg)},"
        f"{';'.join(map(str, rec.loads_kg))},{';'.join(map(str, rec.spacings_mm))},"
        f"{rec.gvw_kg},{rec.flags:X}"
    ).encode("ascii")
    return b"$" + body + b"*%02X\r\n" % wvr1_checksum(body)


class Wvr1LineParser:
    """Turn a WVR1 byte stream, split anywhere, into checked records.

    `feed(data)` returns the records completed by `data`; `stats()` a frozen snapshot of the
    counters. A partial line is held until its LF; the buffer never exceeds MAX_LINE bytes after
    `feed` returns (a longer line is a framing error and is dropped).
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._last_seq: int | None = None
        self._c = dict.fromkeys(
            (
                "records",
                "bytes",
                "checksum_errors",
                "field_errors",
                "sum_errors",
                "framing_errors",
                "lost_records",
                "seq_restarts",
                "garbage_bytes",
            ),
            0,
        )

    def stats(self) -> Wvr1Stats:
        """A frozen snapshot of the counters."""
        return Wvr1Stats(**self._c)

    def reset(self) -> None:
        """Forget a partial line and the last seq: call when the source was reopened."""
        self._buf.clear()
        self._last_seq = None

    def feed(self, data: bytes | bytearray | memoryview) -> list[Wvr1Record]:
        """Add bytes received from the link; return the records they complete, in order."""
        self._c["bytes"] += len(data)
        self._buf += data
        buf = self._buf
        out: list[Wvr1Record] = []
        pos = 0
        while pos < len(buf):
            start = buf.find(b"$", pos)
            if start < 0:
                self._garbage(pos, len(buf))
                pos = len(buf)
                break
            self._garbage(pos, start)
            pos = start
            nl = buf.find(b"\n", pos)
            cut = buf.find(b"$", pos + 1, nl if nl >= 0 else len(buf))
            if cut >= 0:
                # A new line began before this one ended: the rest of this one was lost.
                self._c["framing_errors"] += 1
                pos = cut
            elif nl < 0:
                if len(buf) - pos > MAX_LINE:
                    self._c["framing_errors"] += 1
                    pos = len(buf)
                break
            else:
                if nl - pos > MAX_LINE:
                    self._c["framing_errors"] += 1
                else:
                    rec = self._line(bytes(buf[pos + 1 : nl]).rstrip(b"\r"))
                    if rec is not None:
                        out.append(rec)
                pos = nl + 1
        del buf[:pos]
        return out

    def _garbage(self, start: int, end: int) -> None:
        if end > start:
            chunk = self._buf[start:end]
            self._c["garbage_bytes"] += end - start - chunk.count(b"\r") - chunk.count(b"\n")

    def _line(self, line: bytes) -> Wvr1Record | None:
        """Check one line (without '$' and CRLF); count and drop it when it is bad."""
        body, star, given = line.rpartition(b"*")
        if not star or not _CHECKSUM.fullmatch(given) or int(given, 16) != wvr1_checksum(body):
            self._c["checksum_errors"] += 1
            return None
        try:
            rec = parse_wvr1_fields(body.decode("ascii"))
        except (UnicodeDecodeError, _FieldError):
            self._c["field_errors"] += 1
            return None
        if abs(sum(rec.loads_kg) - rec.gvw_kg) > SUM_TOLERANCE_KG:
            self._c["sum_errors"] += 1
            return None
        self._count_seq(rec.seq)
        self._c["records"] += 1
        return rec

    def _count_seq(self, seq: int) -> None:
        if self._last_seq is not None:
            step = (seq - self._last_seq) % _SEQ_MOD
            if step > _SEQ_MOD // 2:
                self._c["seq_restarts"] += 1
            elif step > 1:
                self._c["lost_records"] += step - 1
        self._last_seq = seq


def wvr1_to_vehicle(
    rec: Wvr1Record, t0_unix_ns: int, calibration_id: str, source: str
) -> WeighedVehicle:
    """The WeighedVehicle of a record; `t_ns` is on the unit time line (wall - t0_unix_ns)."""
    axles = tuple(
        Axle(load_kg=float(load), spacing_m=0.0 if i == 0 else rec.spacings_mm[i - 1] / 1000.0)
        for i, load in enumerate(rec.loads_kg)
    )
    quality = {name for bit, name in FLAG_NAMES.items() if rec.flags & bit}
    if rec.flags & ~_KNOWN_FLAGS:
        quality.add("unknown_flags")
    return WeighedVehicle(
        lane=rec.lane,
        t_ns=rec.time_ns - t0_unix_ns,
        speed_kmh=rec.speed_kmh,
        axles=axles,
        calibration_id=calibration_id,
        quality=frozenset(quality),
        source=source,
        seq=rec.seq,
    )
