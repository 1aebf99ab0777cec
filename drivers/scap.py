"""SCAP1 serial capture files (specs/serial.md section 4): what a port delivered, with host times.

Reader and writer. A truncated last record (the recorder died mid-write) is dropped without
error; anything else malformed raises CaptureError naming the byte offset.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from edge.errors import CaptureError

MAGIC = b"SCAP1\n"
_REC = struct.Struct("<QI")
MAX_CHUNK = 64 * 1024 * 1024  # a larger n is corruption, not a port read


@dataclass(frozen=True)
class ScapHeader:
    """The JSON header line; extra keys are kept in `extra`."""

    port: str
    baud: int
    protocol: str
    t0_unix_ns: int
    extra: dict[str, Any]


@dataclass(frozen=True)
class ScapChunk:
    """One port read: host receive time (ns since t0) and the bytes."""

    t_ns: int
    data: bytes


def _parse_header(line: bytes, path: Path) -> ScapHeader:
    try:
        obj = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CaptureError(f"{path}: offset 6: header is not UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise CaptureError(f"{path}: offset 6: header is not a JSON object")
    try:
        port, baud, protocol, t0 = obj["port"], obj["baud"], obj["protocol"], obj["t0_unix_ns"]
    except KeyError as exc:
        raise CaptureError(f"{path}: offset 6: header lacks key {exc}") from None
    if not (isinstance(baud, int) and isinstance(t0, int) and isinstance(protocol, str)):
        raise CaptureError(f"{path}: offset 6: header has wrong types")
    extra = {k: v for k, v in obj.items() if k not in ("port", "baud", "protocol", "t0_unix_ns")}
    return ScapHeader(port=str(port), baud=baud, protocol=protocol, t0_unix_ns=t0, extra=extra)


class ScapReader:
    """Iterate the chunks of a SCAP1 file in order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._f: BinaryIO = path.open("rb")
        except FileNotFoundError:
            raise CaptureError(f"{path}: capture file not found") from None
        except OSError as exc:
            raise CaptureError(f"{path}: cannot open capture: {exc}") from None
        magic = self._f.read(len(MAGIC))
        if magic != MAGIC:
            self._f.close()
            raise CaptureError(f"{path}: offset 0: not a SCAP1 capture (bad magic)")
        line = self._f.readline(1 << 20)
        if not line.endswith(b"\n"):
            self._f.close()
            raise CaptureError(f"{path}: offset 6: header line not terminated")
        self.header = _parse_header(line, path)
        self.truncated = False
        self.size = os.fstat(self._f.fileno()).st_size

    def __enter__(self) -> ScapReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._f.close()

    def tell(self) -> int:
        """Byte offset of the next record (for progress)."""
        return self._f.tell()

    def __iter__(self) -> Iterator[ScapChunk]:
        last_t = 0
        while True:
            offset = self._f.tell()
            head = self._f.read(_REC.size)
            if not head:
                return
            if len(head) < _REC.size:
                self.truncated = True
                return
            t_ns, n = _REC.unpack(head)
            if n > MAX_CHUNK:
                raise CaptureError(
                    f"{self.path}: offset {offset}: record length {n} is implausible"
                )
            data = self._f.read(n)
            if len(data) < n:
                self.truncated = True
                return
            if t_ns < last_t:
                raise CaptureError(
                    f"{self.path}: offset {offset}: t_ns {t_ns} goes back (previous {last_t})"
                )
            last_t = t_ns
            yield ScapChunk(t_ns=t_ns, data=data)


class ScapWriter:
    """Append port reads to a new SCAP1 file; flushed per record so a crash loses at most one."""

    def __init__(
        self, path: Path, port: str, baud: int, protocol: str, t0_unix_ns: int, **extra: Any
    ) -> None:
        self.path = path
        self._f: BinaryIO = path.open("wb")
        header = {
            "port": port,
            "baud": baud,
            "protocol": protocol,
            "t0_unix_ns": t0_unix_ns,
            **extra,
        }
        self._f.write(MAGIC + json.dumps(header, ensure_ascii=False).encode("utf-8") + b"\n")
        self._last_t = 0

    def write(self, t_ns: int, data: bytes) -> None:
        """Append one chunk received at `t_ns` (ns since t0, never decreasing)."""
        if t_ns < self._last_t:
            raise ValueError(f"t_ns {t_ns} goes back (previous {self._last_t})")
        self._last_t = t_ns
        self._f.write(_REC.pack(t_ns, len(data)) + data)
        self._f.flush()  # as the class promises: a crash loses at most the record being written

    def flush(self) -> None:
        """Push buffered records to the OS."""
        self._f.flush()

    def close(self) -> None:
        """Flush, fsync and close."""
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()

    def __enter__(self) -> ScapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
