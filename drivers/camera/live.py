"""A live camera (RTSP/HTTP stream, V4L2 device, or a video file played in real time).

One thread per camera grabs frames as they come, stamps each with the caller's clock at the
moment grab() returns, and hands it to a sink (usually `FrameRing.push`). When the stream drops
or cannot be opened, the source goes down and retries with exponential backoff; every transition
is one log line and the counters say how often it happened.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np

from drivers.camera.stats import SourceState, SourceStats
from drivers.camera.urls import camera_kind, known, open_capture, redact_url
from edge.vision.frames import NS_PER_S, Frame

log = logging.getLogger(__name__)

# After this many undecodable frames in a row the stream is treated as broken and reopened.
MAX_DECODE_ERRORS_IN_ROW = 25


class LiveCameraSource:
    """Capture thread for one camera; `start()`, then frames flow to `sink` until `stop()`.

    `clock()` returns ns on the unit's time line (the caller maps wall clock to it);
    `latency_s` is subtracted to account for the camera's encode and network delay.
    `max_fps` sheds load: frames arriving faster are grabbed but not decoded (counted dropped).
    A video file URL is played at its own frame rate (or `fps`) and looped, for bench rigs.
    """

    def __init__(
        self,
        url: str,
        camera: str,
        sink: Callable[[Frame], None],
        clock: Callable[[], int],
        *,
        fps: float = 25.0,
        max_fps: float | None = None,
        backoff_min_s: float = 1.0,
        backoff_max_s: float = 30.0,
        timeout_s: float = 5.0,
        latency_s: float = 0.0,
    ) -> None:
        if not 0 < backoff_min_s <= backoff_max_s:
            raise ValueError("need 0 < backoff_min_s <= backoff_max_s")
        self.url = url
        self.camera = camera
        self.kind = camera_kind(url)
        self._sink = sink
        self._clock = clock
        self.fps = fps
        self._min_gap_ns = int(NS_PER_S / max_fps) if max_fps else 0
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.timeout_s = timeout_s
        self._latency_ns = int(latency_s * NS_PER_S)
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._state: SourceState = "starting"
        self._seq = 0
        self._frames = self._dropped = self._decode_errors = 0
        self._reconnects = self._open_failures = 0
        self._last_t: int | None = None
        self._down_since: float | None = None
        self._failed_attempts = 0

    # -- control -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the capture thread (once)."""
        if self._thread is not None:
            raise RuntimeError(f"camera {self.camera!r} already started")
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.camera}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Ask the thread to end and wait for it; False if it is still stuck in a read."""
        self._stop.set()
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def state(self) -> SourceState:
        """starting, up, down or stopped."""
        with self._cond:
            return self._state

    def wait_for(self, predicate: Callable[[SourceStats], bool], timeout_s: float) -> bool:
        """Block until `predicate(stats())` holds (checked at every state change and frame)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate(self._stats_locked()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def stats(self) -> SourceStats:
        """A consistent snapshot of the counters."""
        with self._cond:
            return self._stats_locked()

    def _stats_locked(self) -> SourceStats:
        return SourceStats(
            camera=self.camera,
            state=self._state,
            frames=self._frames,
            skipped=0,
            dropped=self._dropped,
            decode_errors=self._decode_errors,
            reconnects=self._reconnects,
            open_failures=self._open_failures,
            last_t_ns=self._last_t,
        )

    # -- capture thread ----------------------------------------------------------------------

    def _run(self) -> None:
        backoff = self.backoff_min_s
        while not self._stop.is_set():
            try:
                delivered, reason = self._session()
            except Exception as exc:  # thread top level: log, count, and keep the camera alive
                log.exception("camera=%s capture failed", self.camera)
                delivered, reason = 0, f"internal error: {exc!r}"
            if self._stop.is_set():
                break
            if delivered:
                backoff = self.backoff_min_s
                if self.kind == "file" and reason == "end of stream":
                    continue  # a file camera loops without going down
            self._go_down(reason, backoff)
            if self._stop.wait(backoff):
                break
            backoff = min(backoff * 2, self.backoff_max_s)
        self._set_state("stopped")
        log.info("camera=%s state=stopped", self.camera)

    def _session(self) -> tuple[int, str]:
        """Open the stream and pump frames until it fails; (frames delivered, why it ended)."""
        cap = open_capture(self.url, self.timeout_s)
        try:
            if not cap.isOpened():
                with self._cond:
                    self._open_failures += 1
                return 0, "cannot open"
            return self._pump(cap)
        finally:
            cap.release()

    def _pump(self, cap: cv2.VideoCapture) -> tuple[int, str]:
        pace_ns = self._file_pace_ns(cap)
        started = time.monotonic_ns()
        delivered = bad_in_row = grabbed = 0
        next_keep = -(2**63)  # the first frame is always kept, whatever the time line's origin
        while not self._stop.is_set():
            if pace_ns and self._stop.wait(
                max(0.0, (started + grabbed * pace_ns - time.monotonic_ns()) / NS_PER_S)
            ):
                break
            if not cap.grab():
                return delivered, "end of stream"
            t_ns = self._clock() - self._latency_ns
            grabbed += 1
            self._seq += 1
            if self._min_gap_ns and t_ns < next_keep:
                with self._cond:
                    self._dropped += 1
                continue
            ok, img = cap.retrieve()
            if not ok or img is None:
                bad_in_row += 1
                with self._cond:
                    self._decode_errors += 1
                if bad_in_row >= MAX_DECODE_ERRORS_IN_ROW:
                    return delivered, "decode errors"
                continue
            bad_in_row = 0
            # Keep the cadence (jitter up to half a period costs no frame); after a stall start
            # a new cadence rather than letting a burst through.
            next_keep = max(next_keep + self._min_gap_ns, t_ns + self._min_gap_ns // 2)
            self._deliver(Frame(self.camera, self._seq - 1, t_ns, _bgr(img)))
            delivered += 1
        return delivered, "stopped"

    def _file_pace_ns(self, cap: cv2.VideoCapture) -> int:
        """Frame period for a file played as a camera; 0 (no pacing) for real cameras."""
        if self.kind != "file":
            return 0
        fps = known(cap.get(cv2.CAP_PROP_FPS)) or self.fps
        return int(NS_PER_S / fps)

    def _deliver(self, frame: Frame) -> None:
        with self._cond:
            was = self._state
        if was != "up":
            self._go_up(was)
        self._sink(frame)
        with self._cond:
            self._frames += 1
            self._last_t = frame.t_ns
            self._cond.notify_all()

    # -- state -------------------------------------------------------------------------------

    def _set_state(self, state: SourceState) -> None:
        with self._cond:
            self._state = state
            self._cond.notify_all()

    def _go_up(self, was: SourceState) -> None:
        if was == "down":
            down_s = time.monotonic() - (self._down_since or time.monotonic())
            with self._cond:
                self._reconnects += 1
            log.info(
                "camera=%s state=up url=%s after_down_s=%.1f attempts=%d",
                self.camera,
                redact_url(self.url),
                down_s,
                self._failed_attempts,
            )
        else:
            log.info("camera=%s state=up url=%s", self.camera, redact_url(self.url))
        self._down_since = None
        self._failed_attempts = 0
        self._set_state("up")

    def _go_down(self, reason: str, retry_in_s: float) -> None:
        self._failed_attempts += 1
        if self.state != "down":
            self._down_since = time.monotonic()
            log.warning(
                "camera=%s state=down reason=%s url=%s retry_in_s=%.1f",
                self.camera,
                reason,
                redact_url(self.url),
                retry_in_s,
            )
            self._set_state("down")
        else:
            log.info(
                "camera=%s still down reason=%s attempt=%d retry_in_s=%.1f",
                self.camera,
                reason,
                self._failed_attempts,
                retry_in_s,
            )
            with self._cond:
                self._cond.notify_all()


def _bgr(img: cv2.typing.MatLike) -> np.ndarray:
    """The decoded image as a BGR uint8 array (V4L2 grey cameras deliver 2-D images)."""
    image = np.asarray(img)
    if image.ndim == 2:
        image = np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))
    return image


def open_camera(
    url: str,
    camera: str,
    sink: Callable[[Frame], None],
    clock: Callable[[], int],
    *,
    fps: float = 25.0,
    max_fps: float | None = None,
    backoff_min_s: float = 1.0,
    backoff_max_s: float = 30.0,
    timeout_s: float = 5.0,
    latency_s: float = 0.0,
) -> LiveCameraSource:
    """A started live source for a site config's camera URL, with the back end it needs.

    rtsp://, rtsps://, http(s):// go through FFmpeg with timeouts; /dev/videoN or an index
    through V4L2; anything else is a video file played in real time (bench rigs). For replay of
    a scenario use `VideoFileSource`, which follows the recording's time line instead.
    """
    source = LiveCameraSource(
        url,
        camera,
        sink,
        clock,
        fps=fps,
        max_fps=max_fps,
        backoff_min_s=backoff_min_s,
        backoff_max_s=backoff_max_s,
        timeout_s=timeout_s,
        latency_s=latency_s,
    )
    source.start()
    return source
