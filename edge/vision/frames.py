"""Camera frames and the per-camera ring buffer of the last seconds of them.

The scale reports a vehicle a moment after it crossed (and the plate is best read some metres
later), so the plate reader fetches frames from the past: `FrameRing.around(t_ns, ...)`. The ring
is bounded by seconds, by a frame count and optionally by bytes, so a camera that delivers more
or bigger frames than configured cannot eat the unit's memory. Frames are shared between stages
without copies; their pixels are made read-only so that no stage can draw on another's frame.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import time
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded camera image on the unit's time line.

    `index` is the frame number in the video (replay) or the capture sequence number (live; gaps
    are frames that were dropped). `t_ns` is ns since scenario t0 (replay) or the caller's time
    line (live). `image` is BGR uint8, HxWx3, and read-only: copy it before drawing on it.
    """

    camera: str
    index: int
    t_ns: int
    image: np.ndarray

    def __post_init__(self) -> None:
        img = self.image
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(
                f"camera {self.camera!r} frame {self.index}: image must be HxWx3 uint8 BGR, "
                f"got shape {img.shape} dtype {img.dtype}"
            )
        # Several stages hold the same array; an in-place edit by one would corrupt evidence.
        img.flags.writeable = False

    @property
    def nbytes(self) -> int:
        """Memory held by the pixels."""
        return int(self.image.nbytes)


@dataclass(frozen=True)
class RingStats:
    """Counters of one ring; `dropped` counts frames refused because they were out of order."""

    camera: str
    size: int
    bytes: int
    pushed: int
    evicted: int
    dropped: int
    oldest_t_ns: int | None
    newest_t_ns: int | None


class FrameRing:
    """Thread-safe buffer of one camera's most recent frames, ordered by time.

    One producer (the camera source) pushes; any number of readers fetch frames by time. A frame
    is evicted when it is more than `seconds` older than the newest one, or when the ring holds
    more than `max_frames` frames or `max_bytes` bytes of pixels.
    """

    def __init__(
        self, camera: str, seconds: float, max_frames: int, max_bytes: int | None = None
    ) -> None:
        if seconds <= 0 or max_frames < 1 or (max_bytes is not None and max_bytes < 1):
            raise ValueError(
                f"camera {camera!r}: ring needs seconds > 0, max_frames >= 1, max_bytes >= 1"
            )
        self.camera = camera
        self.span_ns = int(seconds * NS_PER_S)
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self._frames: list[Frame] = []
        self._times: list[int] = []  # t_ns of _frames, for bisect
        self._bytes = 0
        self._pushed = 0
        self._evicted = 0
        self._dropped = 0
        self._closed = False
        self._cond = threading.Condition()

    @classmethod
    def for_camera(
        cls, camera: str, buffer_s: float, fps: float, max_bytes: int | None = None
    ) -> FrameRing:
        """A ring sized from a camera's config (`Camera.buffer_s`, `Camera.fps`).

        The frame cap leaves 50 % headroom over the nominal rate so that a camera running a bit
        fast still keeps `buffer_s` of history; `max_bytes` is the hard memory bound.
        """
        max_frames = max(2, math.ceil(buffer_s * fps * 1.5) + 1)
        return cls(camera, buffer_s, max_frames, max_bytes)

    def push(self, frame: Frame) -> None:
        """Add the newest frame and evict what falls out of the bounds.

        A frame older than the newest one is refused and counted as dropped: readers rely on
        time order, and a late frame is useless to a stage that already moved on.
        """
        if frame.camera != self.camera:
            raise ValueError(f"ring {self.camera!r} got a frame of camera {frame.camera!r}")
        with self._cond:
            if self._times and frame.t_ns < self._times[-1]:
                self._dropped += 1
                log.debug(
                    "camera=%s frame=%d t_ns=%d out of order; dropped",
                    self.camera,
                    frame.index,
                    frame.t_ns,
                )
                return
            self._frames.append(frame)
            self._times.append(frame.t_ns)
            self._bytes += frame.nbytes
            self._pushed += 1
            self._evict()
            self._cond.notify_all()

    def _evict(self) -> None:
        """Drop the oldest frames beyond the bounds; the newest frame always stays."""
        newest = self._times[-1]
        n = 0
        while len(self._frames) - n > 1 and (
            newest - self._times[n] > self.span_ns
            or len(self._frames) - n > self.max_frames
            or (self.max_bytes is not None and self._bytes > self.max_bytes)
        ):
            self._bytes -= self._frames[n].nbytes
            n += 1
        if n:
            # Lists, not deques: bisect needs random access; n is small and the ring short.
            del self._frames[:n]
            del self._times[:n]
            self._evicted += n

    def around(self, t_ns: int, before_s: float, after_s: float) -> list[Frame]:
        """Frames with `t_ns - before_s <= frame.t_ns <= t_ns + after_s`, oldest first."""
        lo_t = t_ns - int(before_s * NS_PER_S)
        hi_t = t_ns + int(after_s * NS_PER_S)
        with self._cond:
            lo = bisect.bisect_left(self._times, lo_t)
            hi = bisect.bisect_right(self._times, hi_t)
            return self._frames[lo:hi]

    def nearest(self, t_ns: int) -> Frame | None:
        """The frame closest in time to `t_ns` (the earlier one on a tie); None when empty."""
        with self._cond:
            if not self._times:
                return None
            i = bisect.bisect_left(self._times, t_ns)
            if i == 0:
                return self._frames[0]
            if i == len(self._times):
                return self._frames[-1]
            before, after = self._times[i - 1], self._times[i]
            return self._frames[i - 1] if t_ns - before <= after - t_ns else self._frames[i]

    def latest(self) -> Frame | None:
        """The newest frame, or None when empty."""
        with self._cond:
            return self._frames[-1] if self._frames else None

    def wait_until(self, t_ns: int, timeout_s: float) -> bool:
        """Block until a frame at or after `t_ns` is in the ring (live capture lags the scale).

        Returns False on timeout, or at once when the ring is closed (the source ended) and no
        such frame came.
        """
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not (self._times and self._times[-1] >= t_ns):
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self) -> None:
        """Say no more frames will come (end of a replayed video); wakes every waiter."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """True after close()."""
        with self._cond:
            return self._closed

    def __len__(self) -> int:
        with self._cond:
            return len(self._frames)

    def stats(self) -> RingStats:
        """A consistent snapshot of the counters."""
        with self._cond:
            return RingStats(
                camera=self.camera,
                size=len(self._frames),
                bytes=self._bytes,
                pushed=self._pushed,
                evicted=self._evicted,
                dropped=self._dropped,
                oldest_t_ns=self._times[0] if self._times else None,
                newest_t_ns=self._times[-1] if self._times else None,
            )
