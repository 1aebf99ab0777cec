"""Mettler-Toledo style continuous output of a weighing indicator (specs/serial.md section 3).

Sans-IO. One frame, 17 bytes, or 18 with the optional checksum:

    STX(0x02) SWA SWB SWC <6 digits weight> <6 digits tare> CR(0x0D) [checksum]

Where the spec is incomplete, this module decides as follows (and says so to the lead):

- Decimal point: the spec says "from SWA bits 0-2" but gives no table. We use the Mettler
  Toledo table: code 0 -> weight x 100, 1 -> x 10, 2 -> x 1, 3 -> 0.1, 4 -> 0.01, 5 -> 0.001,
  6 -> 0.0001, 7 -> 0.00001. The same factor applies to the tare.
- Units: the spec names no unit bit. Readings are taken as kilograms. (Toledo uses SWB bit 4
  for lb/kg; the spec does not, so it is ignored here and kept in `ToledoReading.swb`.)
- Optional checksum: the spec does not say how a receiver knows whether it is sent. With
  `checksum=None` (auto) a byte after CR that is not STX is taken as a checksum and must make
  the 7-bit sum of the frame 0 mod 128; once one has checked out, the parser expects one after
  every frame (so a checksum that happens to equal STX is then still recognised; before that, a
  checksum equal to STX costs one counted format error, never a wrong weight).
  `checksum=True/False` fixes the mode.
- Digits: "6-digit" fields; leading blanks (some indicators blank leading zeros) are accepted
  as zeros, anything else that is not a digit rejects the frame.
- Parity: the link is 7E1; the port strips the parity bit, and this parser masks bit 7 too so a
  port left at 8N1 still parses.
- Over/under range (SWB bit 2): the spec gives no rule; a reading with it set is reported with
  `over_under=True` and is never `usable`.
"""

from __future__ import annotations

from dataclasses import dataclass

STX = 0x02
CR = 0x0D
FRAME_LEN = 17  # without the optional checksum byte
_MASK7 = bytes(b & 0x7F for b in range(256))
_SCALE = (100.0, 10.0, 1.0, 0.1, 0.01, 0.001, 0.0001, 0.00001)
_SWB_NET = 0x01
_SWB_NEGATIVE = 0x02
_SWB_OVER_UNDER = 0x04
_SWB_MOTION = 0x08


@dataclass(frozen=True)
class ToledoReading:
    """One indicator frame."""

    weight_kg: float  # displayed weight, signed
    tare_kg: float
    net: bool  # the displayed weight is net (gross - tare)
    motion: bool  # the scale is in motion: the weight is not to be taken
    over_under: bool  # over or under range: the weight is not valid
    swa: int = 0
    swb: int = 0
    swc: int = 0

    @property
    def stable(self) -> bool:
        """The spec's rule: a weight is taken only when not in motion."""
        return not self.motion

    @property
    def usable(self) -> bool:
        """Stable and within range: the only readings a weighing decision may use."""
        return not self.motion and not self.over_under


@dataclass(frozen=True)
class ToledoStats:
    """Counters of one parser since it was created."""

    readings: int = 0
    bytes: int = 0
    format_errors: int = 0  # STX found but the frame is not well formed
    checksum_errors: int = 0
    bytes_skipped: int = 0


def _digits(raw: bytes) -> int | None:
    """Six ASCII digits, leading blanks as zeros; None if anything else."""
    text = raw.lstrip(b" ")
    if len(text) == 0:
        return 0
    return int(text) if text.isdigit() else None


def decode_frame(frame: bytes) -> ToledoReading | None:
    """Decode 17 bytes (STX .. CR, bit 7 already masked); None if not well formed."""
    if len(frame) != FRAME_LEN or frame[0] != STX or frame[16] != CR:
        return None
    swa, swb, swc = frame[1], frame[2], frame[3]
    weight, tare = _digits(frame[4:10]), _digits(frame[10:16])
    if weight is None or tare is None:
        return None
    scale = _SCALE[swa & 0x07]
    sign = -1.0 if swb & _SWB_NEGATIVE else 1.0
    return ToledoReading(
        weight_kg=round(sign * weight * scale, 5),
        tare_kg=round(tare * scale, 5),
        net=bool(swb & _SWB_NET),
        motion=bool(swb & _SWB_MOTION),
        over_under=bool(swb & _SWB_OVER_UNDER),
        swa=swa,
        swb=swb,
        swc=swc,
    )


def checksum_byte(frame: bytes) -> int:
    """The checksum that makes the 7-bit sum of `frame` + checksum 0 mod 128."""
    return -sum(frame) & 0x7F


def encode_frame(
    weight: int,
    tare: int = 0,
    *,
    swa: int = 0x22,
    swb: int = 0x30,
    swc: int = 0x20,
    checksum: bool = False,
) -> bytes:
    """Build a frame from raw digit values and status bytes (for simulators and tests)."""
    frame = bytes([STX, swa, swb, swc]) + b"%06d%06d" % (weight, tare) + bytes([CR])
    return frame + bytes([checksum_byte(frame)]) if checksum else frame


class ToledoParser:
    """Turn the indicator's continuous output, split anywhere, into readings.

    On a malformed frame the parser drops one byte and looks for the next STX, so a real frame
    right after a damaged one is still found.
    """

    def __init__(self, checksum: bool | None = None) -> None:
        self._mode = checksum
        self._buf = bytearray()
        self._c = dict.fromkeys(
            ("readings", "bytes", "format_errors", "checksum_errors", "bytes_skipped"), 0
        )

    def stats(self) -> ToledoStats:
        """A frozen snapshot of the counters."""
        return ToledoStats(**self._c)

    def feed(self, data: bytes | bytearray | memoryview) -> list[ToledoReading]:
        """Add bytes received from the link; return the readings they complete."""
        self._c["bytes"] += len(data)
        self._buf += bytes(data).translate(_MASK7)
        out: list[ToledoReading] = []
        pos = 0
        buf = self._buf
        while True:
            start = buf.find(STX, pos)
            if start < 0:
                self._c["bytes_skipped"] += len(buf) - pos
                pos = len(buf)
                break
            self._c["bytes_skipped"] += start - pos
            pos = start
            # One byte more than a frame tells whether a checksum follows (auto mode).
            need = FRAME_LEN + (0 if self._mode is False else 1)
            if len(buf) - pos < need:
                break
            frame = bytes(buf[pos : pos + FRAME_LEN])
            reading = decode_frame(frame)
            if reading is None:
                self._c["format_errors"] += 1
                self._c["bytes_skipped"] += 1
                pos += 1
                continue
            used = self._check_sum(frame, buf[pos + FRAME_LEN] if need > FRAME_LEN else None)
            if used is None:
                self._c["checksum_errors"] += 1
                self._c["bytes_skipped"] += 1
                pos += 1
                continue
            out.append(reading)
            self._c["readings"] += 1
            pos += FRAME_LEN + used
        del buf[:pos]  # what is left is shorter than one frame and its checksum
        return out

    def _check_sum(self, frame: bytes, after: int | None) -> int | None:
        """Bytes of checksum consumed after `frame` (0 or 1), or None if the checksum is bad."""
        if self._mode is False or after is None:
            return 0
        good = (sum(frame) + after) & 0x7F == 0
        if self._mode is None:
            if after == STX:
                return 0  # no checksum (yet): the next frame starts here
            if good:
                self._mode = True
                return 1
            return None
        return 1 if good else None
