"""Camera drivers: recorded video for replay, live streams and devices, frames with times.

- `VideoFileSource`: a scenario's video, frames timed by frames.csv or start_ns + i / fps.
- `LiveCameraSource` / `open_camera`: RTSP, HTTP, V4L2 or a looped file, on a thread, with
  reconnect and backoff.
- `read_frames_csv`: the validated per-frame times of a recording.
- `VideoRecorder`: a live camera's frames into a scenario video and frames.csv (`edge record`).
"""

from drivers.camera.live import LiveCameraSource, open_camera
from drivers.camera.recorder import RecorderStats, VideoRecorder
from drivers.camera.replay import VideoFileSource, read_frames_csv
from drivers.camera.stats import SourceState, SourceStats
from drivers.camera.urls import CameraKind, camera_kind, redact_url

__all__ = [
    "CameraKind",
    "LiveCameraSource",
    "RecorderStats",
    "SourceState",
    "SourceStats",
    "VideoFileSource",
    "VideoRecorder",
    "camera_kind",
    "open_camera",
    "read_frames_csv",
    "redact_url",
]
