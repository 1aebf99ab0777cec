"""The LCS1 byte stream as a USB CDC port delivers it: frames, line damage, and port reads.

Frames are encoded for a whole block at once with numpy (the codec in edge.wim.protocols.lcs1
encodes one frame at a time, too slow for an hour of data); binascii.crc_hqx with init 0xFFFF is
exactly CRC-16/CCITT-FALSE.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edge.wim.protocols.lcs1 import FLAG_OVERRANGE, FULL_SCALE, VERSION

_HEADER = np.dtype(
    [
        ("sync", "<u2"),
        ("version", "u1"),
        ("nch", "u1"),
        ("nsamp", "u1"),
        ("flags", "u1"),
        ("seq", "<u2"),
        ("t_us", "<u4"),
        ("rate", "<u2"),
    ]
)
_SYNC_LE = 0x5AA5  # bytes A5 5A
MAX_READ = 1024  # largest port read, bytes
LATENCY_S = (0.0005, 0.003)


def encode_frames(
    samples: npt.NDArray[np.int32], seq0: int, t_us0: int, rate: int
) -> npt.NDArray[np.uint8]:
    """Encode frames (F, nsamp, nch) with consecutive seq and t_us; returns (F, frame bytes)."""
    nframes, nsamp, nch = samples.shape
    header = np.zeros(nframes, dtype=_HEADER)
    header["sync"] = _SYNC_LE
    header["version"] = VERSION
    header["nch"] = nch
    header["nsamp"] = nsamp
    over = (samples >= FULL_SCALE) | (samples <= -FULL_SCALE - 1)
    header["flags"] = np.where(over.any(axis=(1, 2)), FLAG_OVERRANGE, 0)
    step_us = nsamp * 1_000_000 // rate
    idx = np.arange(nframes, dtype=np.int64)
    header["seq"] = (seq0 + idx) & 0xFFFF
    header["t_us"] = (t_us0 + idx * step_us) & 0xFFFFFFFF
    header["rate"] = rate
    data = (samples.astype("<i4").reshape(nframes, -1) & 0xFFFFFF).astype("<u4")
    data24 = data.view(np.uint8).reshape(nframes, -1, 4)[:, :, :3].reshape(nframes, -1)
    body = np.concatenate([header.view(np.uint8).reshape(nframes, -1), data24], axis=1)
    crc = np.fromiter(
        (binascii.crc_hqx(row[2:].tobytes(), 0xFFFF) for row in body),
        dtype="<u2",
        count=nframes,
    )
    return np.concatenate([body, crc.view(np.uint8).reshape(nframes, 2)], axis=1)


@dataclass
class LineNoise:
    """Damages frames on the wire with probability `p` each; counts what it did."""

    rng: np.random.Generator
    p: float
    damaged: int = 0
    garbage: int = 0

    def _damage(self, frame: bytes) -> bytes:
        mode = int(self.rng.integers(3))
        if mode == 0:  # one byte flipped: bad CRC or impossible header
            pos = int(self.rng.integers(len(frame)))
            flip = int(self.rng.integers(1, 256))
            self.damaged += 1
            return frame[:pos] + bytes([frame[pos] ^ flip]) + frame[pos + 1 :]
        if mode == 1:  # a span lost (UART overrun)
            start = int(self.rng.integers(len(frame)))
            n = int(self.rng.integers(1, 100))
            self.damaged += 1
            return frame[:start] + frame[start + n :]
        junk = self.rng.integers(0, 256, int(self.rng.integers(1, 64)), dtype=np.uint8).tobytes()
        if self.rng.random() < 0.5:  # a false sync in the junk
            junk = b"\xa5\x5a" + junk
        self.garbage += 1
        return junk + frame

    def apply(self, frames: npt.NDArray[np.uint8]) -> tuple[bytes, npt.NDArray[np.int64]]:
        """Concatenate the frames, damaging some; also each frame's end offset in the stream."""
        nframes, flen = frames.shape
        hit = np.nonzero(self.rng.random(size=(nframes,)) < self.p)[0]
        if self.p <= 0 or len(hit) == 0:
            return frames.tobytes(), (np.arange(1, nframes + 1, dtype=np.int64) * flen)
        pieces: list[bytes] = []
        lengths = np.full(nframes, flen, dtype=np.int64)
        start = 0
        for i in hit:
            pieces.append(frames[start:i].tobytes())
            bad = self._damage(frames[i].tobytes())
            pieces.append(bad)
            lengths[i] = len(bad)
            start = int(i) + 1
        pieces.append(frames[start:].tobytes())
        return b"".join(pieces), np.cumsum(lengths)


@dataclass
class Chunker:
    """Cuts the stream into port reads of random size with host receive times (ns)."""

    rng: np.random.Generator
    leftover: bytes = b""
    last_t_ns: int = 0
    chunks: int = field(default=0)
    nbytes: int = field(default=0)

    def feed(
        self,
        stream: bytes,
        ends: npt.NDArray[np.int64],
        done_ns: npt.NDArray[np.float64],
        final: bool = False,
    ) -> list[tuple[int, bytes]]:
        """Reads for `stream` (frame i ends at ends[i], complete at done_ns[i]).

        A read's time is when the frame holding its last byte was complete, plus USB latency,
        never earlier than the previous read. Bytes after the last cut wait for the next call.
        """
        buf = self.leftover + stream
        if len(ends) == 0:  # every frame of the block was lost
            self.leftover = buf
            return self._flush() if final else []
        ends = ends + len(self.leftover)
        sizes = self.rng.integers(1, MAX_READ + 1, len(buf) // (MAX_READ // 2) + 2)
        cuts = np.cumsum(sizes)
        cuts = cuts[cuts < len(buf)]
        if final:
            cuts = np.append(cuts, len(buf))
        frame = np.minimum(np.searchsorted(ends, cuts - 1, side="right"), len(ends) - 1)
        t = done_ns[frame] + self.rng.uniform(*LATENCY_S, len(cuts)) * 1e9
        out: list[tuple[int, bytes]] = []
        prev = 0
        for cut, t_read in zip(cuts, t, strict=True):
            self.last_t_ns = max(self.last_t_ns, int(t_read))
            out.append((self.last_t_ns, buf[prev:cut]))
            prev = int(cut)
        self.leftover = buf[prev:]
        self.chunks += len(out)
        self.nbytes += prev
        return out

    def _flush(self) -> list[tuple[int, bytes]]:
        if not self.leftover:
            return []
        out = [(self.last_t_ns, self.leftover)]
        self.chunks += 1
        self.nbytes += len(self.leftover)
        self.leftover = b""
        return out
