"""LCS1 byte stream -> frames, with resync and counters (specs/serial.md section 1). Sans-IO.

The parser never raises on stream content: a corrupt or impossible frame is counted and skipped
by dropping ONE byte and searching for the next sync, so a real frame that starts inside the
bytes of a damaged one is still found. No frame is returned unless its CRC matches.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass

from edge.wim.protocols.lcs1 import (
    CRC_LEN,
    FLAG_CLOCK_RESTART,
    FLAG_OVERRANGE,
    HEADER_LEN,
    MAX_NCH,
    MAX_NSAMP,
    SYNC,
    VERSION,
    Lcs1Frame,
    decode_samples,
    frame_length,
)

MAX_FRAME_LEN = frame_length(MAX_NCH, MAX_NSAMP)  # 9616 bytes
_KNOWN_FLAGS = FLAG_OVERRANGE | FLAG_CLOCK_RESTART
# version, nch, nsamp, flags, seq, t_us, rate: the header after the 2 sync bytes
_HEADER = struct.Struct("<BBBBHIH")
_CRC = struct.Struct("<H")
_SYNC0 = SYNC[0]


@dataclass(frozen=True)
class Lcs1Stats:
    """Counters of one parser since it was created.

    Bytes add up: bytes == frame_bytes + bytes_skipped + buffered.
    """

    frames: int = 0  # frames returned
    bytes: int = 0  # bytes fed
    frame_bytes: int = 0  # bytes that were part of returned frames
    crc_errors: int = 0  # candidate frames with a good header and a bad CRC
    header_errors: int = 0  # sync found but the header is impossible
    resyncs: int = 0  # times the parser lost sync and had to skip bytes
    bytes_skipped: int = 0  # bytes that were not part of any returned frame
    lost_frames: int = 0  # frames missing by seq gaps (wrap 65535 -> 0 aware)
    overrange: int = 0  # frames with flag bit 0 (some sample at full scale)
    clock_restarts: int = 0  # frames with flag bit 1 (board clock restarted)
    buffered: int = 0  # bytes held waiting for the rest of a frame


def _header_ok(version: int, nch: int, nsamp: int, flags: int, rate: int) -> bool:
    """A header the reference board can send; anything else is noise that looks like a sync."""
    return (
        version == VERSION
        and 1 <= nch <= MAX_NCH
        and 1 <= nsamp <= MAX_NSAMP
        and not flags & ~_KNOWN_FLAGS
        and rate > 0  # sample times divide by the rate
    )


class Lcs1StreamParser:
    """Turn an LCS1 byte stream, split anywhere, into CRC-checked frames.

    `feed(data)` returns the frames completed by `data`; `stats()` returns a frozen snapshot of
    the counters. The internal buffer never holds more than one maximal frame (9616 bytes)
    after `feed` returns.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._last_seq: int | None = None
        self._skipping = False
        self._c = {
            "frames": 0,
            "bytes": 0,
            "frame_bytes": 0,
            "crc_errors": 0,
            "header_errors": 0,
            "resyncs": 0,
            "bytes_skipped": 0,
            "lost_frames": 0,
            "overrange": 0,
            "clock_restarts": 0,
        }

    def stats(self) -> Lcs1Stats:
        """A frozen snapshot of the counters."""
        return Lcs1Stats(**self._c, buffered=len(self._buf))

    def feed(self, data: bytes | bytearray | memoryview) -> list[Lcs1Frame]:
        """Add bytes received from the link; return the frames they complete, in order."""
        self._c["bytes"] += len(data)
        self._buf += data
        frames, pos = self._scan(final=False)
        del self._buf[:pos]
        return frames

    def flush(self) -> list[Lcs1Frame]:
        """End of input (e.g. end of a capture): recover what the buffered bytes still hold.

        A candidate frame whose header claims more bytes than remain is treated as damaged, so
        real frames after a corrupt length field are not lost at the end of a capture. Every
        byte left afterwards is counted as skipped.
        """
        frames, pos = self._scan(final=True)
        self._skip(len(self._buf) - pos)
        self._buf.clear()
        return frames

    def reset(self) -> None:
        """Forget the buffer and the last seq: call when the source was reopened.

        Buffered bytes are counted as skipped; the next frame starts a new seq run, so the
        outage is not miscounted as a huge (or a wrapped, tiny) number of lost frames.
        """
        self._skip(len(self._buf))
        self._buf.clear()
        self._last_seq = None

    def _skip(self, n: int) -> None:
        if n <= 0:
            return
        if not self._skipping:
            self._skipping = True
            self._c["resyncs"] += 1
        self._c["bytes_skipped"] += n

    def _scan(self, *, final: bool) -> tuple[list[Lcs1Frame], int]:
        """Parse the buffer from 0; return the frames and how many bytes are consumed."""
        buf = self._buf
        size = len(buf)
        frames: list[Lcs1Frame] = []
        pos = 0
        while True:
            start = buf.find(SYNC, pos)
            if start < 0:
                # Keep a trailing first sync byte: its partner may come with the next read.
                keep = 1 if size > pos and buf[-1] == _SYNC0 and not final else 0
                self._skip(size - keep - pos)
                return frames, size - keep
            self._skip(start - pos)
            pos = start
            if size - pos < HEADER_LEN:
                if final:
                    pos += 1
                    self._skip(1)
                    continue
                return frames, pos
            version, nch, nsamp, flags, seq, t_us, rate = _HEADER.unpack_from(buf, pos + 2)
            if not _header_ok(version, nch, nsamp, flags, rate):
                self._c["header_errors"] += 1
                self._skip(1)
                pos += 1
                continue
            n = frame_length(nch, nsamp)
            if size - pos < n:
                if final:
                    self._skip(1)
                    pos += 1
                    continue
                return frames, pos
            end = pos + n - CRC_LEN
            with memoryview(buf) as view:
                crc = binascii.crc_hqx(view[pos + 2 : end], 0xFFFF)
            if crc != _CRC.unpack_from(buf, end)[0]:
                self._c["crc_errors"] += 1
                self._skip(1)
                pos += 1
                continue
            samples = decode_samples(bytes(buf[pos + HEADER_LEN : end]), nsamp, nch)
            frames.append(Lcs1Frame(seq=seq, t_us=t_us, rate=rate, samples=samples, flags=flags))
            self._count_frame(seq, flags, n)
            pos += n

    def _count_frame(self, seq: int, flags: int, n: int) -> None:
        c = self._c
        self._skipping = False
        c["frames"] += 1
        c["frame_bytes"] += n
        if flags & FLAG_OVERRANGE:
            c["overrange"] += 1
        if flags & FLAG_CLOCK_RESTART:
            # The board restarted: its seq restarts too, so a jump is not a loss.
            c["clock_restarts"] += 1
        elif self._last_seq is not None:
            gap = (seq - self._last_seq - 1) & 0xFFFF
            # gap 65535 means the same seq twice (a repeat), not 65535 lost frames.
            if gap != 0xFFFF:
                c["lost_frames"] += gap
        self._last_seq = seq
