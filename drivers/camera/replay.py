"""Recorded video as a camera, for replay: every frame with its scenario time (specs/bench.md).

Times come from `<name>.frames.csv` (`frame,t_ns`) or, without one, frame i is at
`start_ns + i / fps`. The consumer pulls frames as fast as it wants; frames it does not need are
grabbed without being converted to an image (`skip_to`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import cv2
import numpy as np

from drivers.camera.stats import SourceState, SourceStats
from drivers.camera.urls import known
from edge.errors import CaptureError
from edge.vision.frames import NS_PER_S, Frame, FrameRing

if TYPE_CHECKING:
    from edge.bench.scenario import ScenarioCamera

log = logging.getLogger(__name__)

FRAMES_CSV_HEADER = "frame,t_ns"
# Consecutive failed grabs tolerated before the video counts as ended (a corrupt stretch).
MAX_GRAB_FAILURES = 25


def read_frames_csv(path: Path) -> list[int]:
    """Per-frame times (ns since t0) from a frames.csv; row i must be frame i, times increasing.

    Raises CaptureError naming the file and the line of the first problem.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CaptureError(f"{path}: frames file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CaptureError(f"{path}: cannot read frames file: {exc}") from None
    lines = text.splitlines()
    if not lines or lines[0].strip().replace(" ", "") != FRAMES_CSV_HEADER:
        got = lines[0].strip()[:40] if lines else "an empty file"
        raise CaptureError(f"{path}: line 1: header must be {FRAMES_CSV_HEADER!r}, got {got!r}")
    times: list[int] = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        times.append(_parse_row(path, lineno, line, len(times), times[-1] if times else None))
    if not times:
        raise CaptureError(f"{path}: no frames after the header")
    return times


def _parse_row(path: Path, lineno: int, line: str, expected: int, prev: int | None) -> int:
    """One `frame,t_ns` row checked against the row before it."""
    fields = [f.strip() for f in line.split(",")]
    if len(fields) != 2:
        raise CaptureError(f"{path}: line {lineno}: expected 'frame,t_ns', got {line.strip()!r}")
    try:
        frame, t_ns = int(fields[0]), int(fields[1])
    except ValueError:
        raise CaptureError(f"{path}: line {lineno}: frame and t_ns must be integers") from None
    if frame != expected:
        raise CaptureError(f"{path}: line {lineno}: frame {frame}, expected {expected}")
    if prev is not None and t_ns <= prev:
        raise CaptureError(
            f"{path}: line {lineno}: t_ns {t_ns} is not after the previous frame's {prev}"
        )
    return t_ns


class VideoFileSource:
    """Frames of a recorded video with scenario times, pulled by the consumer.

    `fps` overrides the container's frame rate for `start_ns + i / fps` (unused with a frames
    file). A frame the decoder cannot produce is counted in `decode_errors` and skipped; the
    frames after it keep their own times (recovered from the container's timestamps).
    """

    def __init__(
        self,
        path: Path,
        camera: str,
        *,
        frames_csv: Path | None = None,
        start_ns: int = 0,
        fps: float | None = None,
    ) -> None:
        if not path.is_file():
            raise CaptureError(f"{path}: video for camera {camera!r} not found")
        self.path = path
        self.camera = camera
        self.frames_csv = frames_csv
        self._times = read_frames_csv(frames_csv) if frames_csv is not None else None
        self._cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not self._cap.isOpened():
            raise CaptureError(f"{path}: cannot open video (not a format OpenCV reads)")
        self.container_fps = known(self._cap.get(cv2.CAP_PROP_FPS))
        self.frame_count = int(known(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        self.fps = fps if fps is not None else self.container_fps
        if self._times is None and self.fps <= 0:
            raise CaptureError(f"{path}: video has no frame rate; give fps or a frames file")
        self.start_ns = start_ns
        self._next = 0  # index of the next frame the video should deliver
        self._state: SourceState = "up"
        self._frames = self._skipped = self._decode_errors = 0
        self._last_t: int | None = None
        self._warn_count_mismatch()

    @classmethod
    def from_scenario(
        cls, folder: Path, camera: str, cam: ScenarioCamera, fps: float | None = None
    ) -> VideoFileSource:
        """The source for camera `camera` of a scenario folder (scenario.yaml `cameras:`)."""
        frames = folder / cam.frames if cam.frames else None
        return cls(folder / cam.file, camera, frames_csv=frames, start_ns=cam.start_ns, fps=fps)

    def _warn_count_mismatch(self) -> None:
        if self._times is not None and 0 < self.frame_count != len(self._times):
            log.warning(
                "camera=%s video=%s frames=%d but %s has %d rows",
                self.camera,
                self.path,
                self.frame_count,
                self.frames_csv,
                len(self._times),
            )

    def time_of(self, index: int) -> int:
        """Scenario time of frame `index`."""
        if self._times is not None:
            if index >= len(self._times):
                raise CaptureError(
                    f"{self.frames_csv}: has {len(self._times)} rows but {self.path} has more "
                    f"frames (frame {index})"
                )
            return self._times[index]
        return self.start_ns + round(index * NS_PER_S / self.fps)

    @property
    def next_t_ns(self) -> int | None:
        """Earliest time the next frame can have; None once the video has ended."""
        if self._state != "up":
            return None
        if self._times is not None and self._next >= len(self._times):
            return None
        return self.time_of(self._next)

    def _grab(self) -> int | None:
        """Advance to the next frame the decoder produces; its index, or None at the end."""
        if self._state != "up":
            return None
        failures = 0
        while not self._cap.grab():
            failures += 1
            if failures > self._failure_budget():
                self._end()
                return None
        index = self._next
        if failures:
            # The decoder skipped frames; the container timestamp says which one we got.
            pts_index = self._index_from_pts()
            index = pts_index if pts_index >= index else index + failures
            self._decode_errors += index - self._next
        self._next = index + 1
        return index

    def _failure_budget(self) -> int:
        if self.frame_count <= 0:
            return 2  # length unknown: a couple of retries tell a glitch from the end
        return MAX_GRAB_FAILURES if self._next < self.frame_count else 0

    def _index_from_pts(self) -> int:
        if self.container_fps <= 0:
            return -1
        pos_ms = known(self._cap.get(cv2.CAP_PROP_POS_MSEC))
        return round(pos_ms * self.container_fps / 1000.0)

    def _end(self) -> None:
        self._state = "ended"
        if self.frame_count > 0 and self._next < self.frame_count:
            # Frames the container holds but the decoder never produced.
            self._decode_errors += self.frame_count - self._next
            log.warning(
                "camera=%s video=%s ended at frame %d of %d",
                self.camera,
                self.path,
                self._next,
                self.frame_count,
            )

    def read(self) -> Frame | None:
        """Decode the next frame; None at the end of the video."""
        while (index := self._grab()) is not None:
            ok, img = self._cap.retrieve()
            if not ok or img is None:
                self._decode_errors += 1
                continue
            image = np.asarray(img)
            if image.ndim == 2:
                image = np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))
            t_ns = self.time_of(index)
            self._frames += 1
            self._last_t = t_ns
            return Frame(camera=self.camera, index=index, t_ns=t_ns, image=image)
        return None

    def skip(self) -> bool:
        """Pass over the next frame without decoding it to an image; False at the end."""
        index = self._grab()
        if index is None:
            return False
        self.time_of(index)  # a video longer than its frames file is malformed here too
        self._skipped += 1
        return True

    def skip_to(self, t_ns: int) -> int:
        """Skip every frame before `t_ns` (cheaply, without decoding); how many were skipped."""
        n = 0
        while (nxt := self.next_t_ns) is not None and nxt < t_ns and self.skip():
            n += 1
        return n

    def feed(self, ring: FrameRing, until_t_ns: int) -> int:
        """Push every frame up to `until_t_ns` into `ring`; close the ring at the video's end.

        This is how replay keeps a camera's ring as far ahead as the scale's time line needs.
        """
        n = 0
        while (nxt := self.next_t_ns) is not None and nxt <= until_t_ns:
            frame = self.read()
            if frame is None:
                break
            ring.push(frame)
            n += 1
        if self.next_t_ns is None:
            ring.close()
        return n

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def stats(self) -> SourceStats:
        """Counters so far."""
        return SourceStats(
            camera=self.camera,
            state=self._state,
            frames=self._frames,
            skipped=self._skipped,
            dropped=0,
            decode_errors=self._decode_errors,
            reconnects=0,
            open_failures=0,
            last_t_ns=self._last_t,
        )

    def close(self) -> None:
        """Release the decoder."""
        self._cap.release()
        self._state = "stopped"

    def __enter__(self) -> VideoFileSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
