"""Camera frames and the per-camera ring buffer of the last seconds of them.

The scale reports a vehicle a moment after it crossed (and the plate is best read some metres
later), so the plate reader fetches frames from the past: `FrameRing.around(t_ns, ...)`. The ring
is bounded by seconds, by a frame count and optionally by bytes, so a camera that delivers more
or bigger frames than configured cannot eat the unit's memory; it can also keep only `keep_fps`
frames per second, since the plate reader reads a handful of frames per vehicle and every
further raw frame costs megabytes (1080p BGR: 6.2 MB) for nothing. Frames are shared between stages
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
MB = 1_000_000  # ring budgets are in decimal MB, like the 6.2 MB of a 1080p frame


def ring_seconds(frame_bytes: int, max_bytes: int, fps: float) -> float:
    """Seconds of history a ring bounded by `max_bytes` holds of `frame_bytes` frames at `fps`.

    n frames at `fps` span (n - 1) / fps seconds; the newest frame always stays, so 0 s at worst.
    """
    frames = max(1, max_bytes // max(1, frame_bytes))
    return (frames - 1) / fps


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
    """Counters of one ring.

    `pushed` frames were stored (and later `evicted`); `skipped` were not stored on purpose,
    beyond the ring's `keep_fps`; `dropped` were refused because they were out of order.
    `max_bytes` is the ring's memory bound (None: unbounded).
    """

    camera: str
    size: int
    bytes: int
    pushed: int
    evicted: int
    dropped: int
    oldest_t_ns: int | None
    newest_t_ns: int | None
    skipped: int = 0
    max_bytes: int | None = None


class FrameRing:
    """Thread-safe buffer of one camera's most recent frames, ordered by time.

    One producer (the camera source) pushes; any number of readers fetch frames by time. A frame
    is evicted when it is more than `seconds` older than the newest one, or when the ring holds
    more than `max_frames` frames or `max_bytes` bytes of pixels. With `keep_fps`, frames that
    come faster than that are skipped at push (not stored, counted), on a steady cadence.
    """

    def __init__(
        self,
        camera: str,
        seconds: float,
        max_frames: int,
        max_bytes: int | None = None,
        keep_fps: float | None = None,
    ) -> None:
        if (
            seconds <= 0
            or max_frames < 1
            or (max_bytes is not None and max_bytes < 1)
            or (keep_fps is not None and keep_fps <= 0)
        ):
            raise ValueError(
                f"camera {camera!r}: ring needs seconds > 0, max_frames >= 1, max_bytes >= 1, "
                "keep_fps > 0"
            )
        self.camera = camera
        self.span_ns = int(seconds * NS_PER_S)
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.keep_fps = keep_fps
        self._gap_ns = int(NS_PER_S / keep_fps) if keep_fps else 0
        self._next_keep: int | None = None  # earliest time of the next frame kept (keep_fps)
        self._skipped = 0
        self._warned_short = False
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
        cls,
        camera: str,
        buffer_s: float,
        fps: float,
        max_bytes: int | None = None,
        keep_fps: float | None = None,
    ) -> FrameRing:
        """A ring sized from a camera's config (`Camera.buffer_s`, `fps`, `ring_max_bytes`,
        `ring_fps`).

        The frame cap leaves 50 % headroom over the stored rate (the lower of `fps` and
        `keep_fps`) so that a camera running a bit fast still keeps `buffer_s` of history;
        `max_bytes` is the hard memory bound and wins over `buffer_s` (logged once).
        """
        rate = min(fps, keep_fps) if keep_fps else fps
        max_frames = max(2, math.ceil(buffer_s * rate * 1.5) + 1)
        return cls(camera, buffer_s, max_frames, max_bytes, keep_fps)

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
            if not self._keep(frame.t_ns):
                self._skipped += 1
                return
            self._frames.append(frame)
            self._times.append(frame.t_ns)
            self._bytes += frame.nbytes
            self._pushed += 1
            self._evict()
            self._cond.notify_all()

    def _keep(self, t_ns: int) -> bool:
        """Whether a frame at t_ns fits the `keep_fps` cadence (always, without keep_fps).

        Kept frames follow a schedule one period apart that starts half a period after the first
        one: jitter of up to half a period costs no frame (a camera at exactly keep_fps keeps
        all of its frames), and after a stall the schedule restarts rather than letting a burst
        through. Same cadence as the live source's `max_fps`.
        """
        if not self._gap_ns:
            return True
        if self._next_keep is not None and t_ns < self._next_keep:
            return False
        half = self._gap_ns // 2
        scheduled = t_ns - half if self._next_keep is None else self._next_keep
        self._next_keep = max(scheduled + self._gap_ns, t_ns + half)
        return True

    def _evict(self) -> None:
        """Drop the oldest frames beyond the bounds; the newest frame always stays."""
        newest = self._times[-1]
        n = 0
        by_bytes = False
        while len(self._frames) - n > 1:
            too_old = (
                newest - self._times[n] > self.span_ns or len(self._frames) - n > self.max_frames
            )
            too_big = self.max_bytes is not None and self._bytes > self.max_bytes
            if not (too_old or too_big):
                break
            by_bytes = by_bytes or not too_old  # a frame still within `seconds` had to go
            self._bytes -= self._frames[n].nbytes
            n += 1
        if by_bytes and not self._warned_short:
            self._warn_short(n)
        if n:
            # Lists, not deques: bisect needs random access; n is small and the ring short.
            del self._frames[:n]
            del self._times[:n]
            self._evicted += n

    def _warn_short(self, n: int) -> None:
        """Once: the byte bound, not `seconds`, limits the history (frames are bigger than the
        budget allows); say how much history the camera really has, so a site can size it."""
        self._warned_short = True
        kept_s = (self._times[-1] - self._times[n]) / NS_PER_S
        newest = self._frames[-1]
        h, w = newest.image.shape[:2]
        log.warning(
            "camera=%s frame ring holds only %.1f s of the %.1f s buffer: %d frames of %dx%d "
            "(%.1f MB each) fill ring_max_mb %g; raise ring_max_mb or lower ring_fps",
            self.camera,
            kept_s,
            self.span_ns / NS_PER_S,
            len(self._frames) - n,
            w,
            h,
            newest.nbytes / MB,
            (self.max_bytes or 0) / MB,
        )

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
                skipped=self._skipped,
                max_bytes=self.max_bytes,
            )
