"""What a camera URL names, which OpenCV back end opens it, and how to log it without secrets."""

from __future__ import annotations

import math
import re
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import cv2

# OpenCV's own warnings (FFmpeg timeouts, back-end probing) would flood the journal on every
# reconnect attempt; our sources log state changes themselves, once.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

CameraKind = Literal["rtsp", "http", "v4l2", "file"]

_DEVICE = re.compile(r"^/dev/video\d+$")


def camera_kind(url: str) -> CameraKind:
    """Classify a camera URL: network stream, V4L2 device (path or index) or video file."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("rtsp", "rtsps", "rtmp"):
        return "rtsp"
    if scheme in ("http", "https"):
        return "http"
    if url.isdigit() or _DEVICE.match(url):
        return "v4l2"
    return "file"


def redact_url(url: str) -> str:
    """The URL with any password replaced, for logs (RTSP cameras carry user:pass@host)."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def open_capture(url: str, timeout_s: float) -> cv2.VideoCapture:
    """Open `url` with the back end its kind needs; the caller checks isOpened().

    Network streams get open and read timeouts so that a stalled camera fails a read instead of
    blocking the capture thread for FFmpeg's default of minutes.
    """
    kind = camera_kind(url)
    if kind == "v4l2":
        if url.isdigit():
            return cv2.VideoCapture(int(url), cv2.CAP_V4L2)
        return cv2.VideoCapture(url, cv2.CAP_V4L2)
    if kind == "file":
        return cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    ms = max(1, int(timeout_s * 1000))
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
    return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)


def known(x: float) -> float:
    """OpenCV reports an unknown property (fps, frame count) as 0, -1 or NaN: map all to 0."""
    return x if math.isfinite(x) and x > 0 else 0.0
