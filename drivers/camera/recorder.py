"""One camera's frames into a scenario video and its frames.csv (specs/bench.md), for `edge record`.

The video is `<name>.mkv` (MPEG-4 part 2, `mp4v`): Matroska is written front to back, so a
recorder killed hard leaves a file OpenCV still reads up to the last flushed frames, where an
.mp4 without its closing index (moov atom) is unreadable as a whole. Each frame's capture time
goes to `<name>.frames.csv` as it is written, unbuffered: after a hard kill the csv never
holds fewer rows than the video holds frames, which replay needs (a video longer than its
frames file is malformed; a shorter one simply ends early).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from drivers.camera.replay import FRAMES_CSV_HEADER
from edge.errors import CaptureError
from edge.vision.frames import Frame

log = logging.getLogger(__name__)

VIDEO_SUFFIX = ".mkv"
FOURCC = "mp4v"


@dataclass(frozen=True)
class RecorderStats:
    """What one recorder wrote.

    frames: written to the video (one csv row each); resized: frames of another size than the
    first, scaled to it; write_errors: frames lost to the encoder or the disk; size: (width,
    height) of the video once the first frame arrived.
    """

    camera: str
    frames: int
    resized: int
    write_errors: int
    size: tuple[int, int] | None
    last_t_ns: int | None


class VideoRecorder:
    """Writes `<name>.mkv` and `<name>.frames.csv` in `out_dir`; `write(frame)`, then `close()`.

    The video is created on the first frame (its size is the video's size), so a camera that
    never delivers leaves no file. `write` may be called from a capture thread and never raises
    for encoder or disk trouble: those frames are counted in `write_errors` and logged once.
    """

    def __init__(self, name: str, out_dir: Path, fps: float) -> None:
        if fps <= 0:
            raise ValueError(f"camera {name!r}: fps must be > 0, got {fps}")
        self.name = name
        self.fps = fps
        self.video_path = out_dir / f"{name}{VIDEO_SUFFIX}"
        self.csv_path = out_dir / f"{name}.frames.csv"
        self._lock = threading.Lock()
        self._writer: cv2.VideoWriter | None = None
        self._csv: BinaryIO | None = None
        self._size: tuple[int, int] | None = None
        self._frames = self._resized = self._errors = 0
        self._last_t: int | None = None
        self._closed = False
        self._failed = False  # the video could not be created; every later frame is an error

    def write(self, frame: Frame) -> None:
        """Append one frame and its time; a frame lost is counted in write_errors."""
        with self._lock:
            if self._closed:
                return  # a capture thread that outlived close(): the recording is over
            if self._writer is None and not self._failed:
                self._open(frame)
            if self._writer is None or self._csv is None:
                self._errors += 1
                return
            self._append(frame)

    def _open(self, frame: Frame) -> None:
        h, w = frame.image.shape[:2]
        writer = cv2.VideoWriter(
            str(self.video_path), cv2.VideoWriter.fourcc(*FOURCC), self.fps, (w, h)
        )
        if not writer.isOpened():
            self._failed = True
            log.error("camera=%s cannot create video %s (%dx%d)", self.name, self.video_path, w, h)
            return
        try:
            # Unbuffered: a row either reaches the file in one write or raises, so a failed
            # write never leaves a row behind in a buffer to appear later, out of step.
            csv = self.csv_path.open("wb", buffering=0)
            csv.write(f"{FRAMES_CSV_HEADER}\n".encode("ascii"))
        except OSError as exc:
            writer.release()
            self._failed = True
            log.error("camera=%s cannot create %s: %s", self.name, self.csv_path, exc)
            return
        self._writer, self._csv, self._size = writer, csv, (w, h)
        log.info("camera=%s recording %dx%d to %s", self.name, w, h, self.video_path)

    def _append(self, frame: Frame) -> None:
        assert self._writer is not None and self._csv is not None and self._size is not None
        image = frame.image
        if (image.shape[1], image.shape[0]) != self._size:
            # A camera that changes resolution mid-stream (reconfigured, or a fallback stream)
            # still gives one playable video.
            image = np.asarray(cv2.resize(image, self._size, interpolation=cv2.INTER_AREA))
            self._resized += 1
        # frames.csv times must increase; two grabs stamped the same ns would break the file.
        t_ns = frame.t_ns if self._last_t is None else max(frame.t_ns, self._last_t + 1)
        try:
            # The row first: if the disk refuses it, the frame is not added to the video either.
            self._csv.write(f"{self._frames},{t_ns}\n".encode("ascii"))
            self._writer.write(image)
        except (cv2.error, OSError) as exc:
            if not self._errors:
                log.error("camera=%s writing %s failed: %s", self.name, self.video_path, exc)
            self._errors += 1
            return
        self._frames += 1
        self._last_t = t_ns

    @property
    def started(self) -> bool:
        """True once the video file exists with at least one frame."""
        with self._lock:
            return self._frames > 0

    def stats(self) -> RecorderStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return RecorderStats(
                self.name, self._frames, self._resized, self._errors, self._size, self._last_t
            )

    def close(self) -> None:
        """Finish the video (writes its index) and fsync both files; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._writer is not None:
                self._writer.release()
            if self._csv is not None:
                self._csv.close()
            if self._writer is not None:
                _fsync(self.video_path)
                _fsync(self.csv_path)


def _fsync(path: Path) -> None:
    """fsync a finished file so the recording survives a power cut after the recorder ends."""
    try:
        with path.open("rb") as f:
            os.fsync(f.fileno())
    except OSError as exc:
        raise CaptureError(f"{path}: cannot sync: {exc}") from None
