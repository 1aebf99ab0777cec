"""Camera drivers: replayed video with scenario times, frames.csv checks, live capture that
goes down and comes back (a real HTTP MJPEG stream on localhost), load shedding, URL handling."""

from __future__ import annotations

import contextlib
import itertools
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from drivers.camera import (
    LiveCameraSource,
    SourceStats,
    VideoFileSource,
    camera_kind,
    open_camera,
    read_frames_csv,
    redact_url,
)
from edge.bench.scenario import Scenario
from edge.errors import CaptureError
from edge.vision.frames import Frame, FrameRing

MS = 1_000_000
CAR_VIDEO = Path(__file__).resolve().parent.parent.parent / "shared/data/video/car-detection.mp4"


# -- helpers -----------------------------------------------------------------------------------


def level(i: int) -> int:
    """The grey level frame i is painted with, so decoded frames can be told apart."""
    return (i * 12) % 240 + 8


def write_video(path: Path, n: int, fps: float, fourcc: str = "MJPG") -> Path:
    """A small video whose frame i is flat grey `level(i)`."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, (64, 48))
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.full((48, 64, 3), level(i), dtype=np.uint8))
    writer.release()
    return path


def painted_index(f: Frame) -> int:
    """Which frame the pixels show (inverse of `level` over the first 20 frames)."""
    mean = float(f.image.mean())
    return min(range(20), key=lambda i: abs(level(i) - mean))


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def corrupt_jpeg(path: Path, which: int) -> None:
    """Overwrite the start of the `which`-th JPEG image inside an MJPG video with garbage."""
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 2) if data[i : i + 3] == b"\xff\xd8\xff"]
    # All of the image but the AVI chunk header (8 bytes) in front of the next one.
    begin, end = starts[which] + 2, starts[which + 1] - 8
    data[begin:end] = b"\x55" * (end - begin)
    path.write_bytes(bytes(data))


# -- frames.csv --------------------------------------------------------------------------------


def test_frames_csv_gives_per_frame_times(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "cam.frames.csv", ["frame,t_ns", "0,1000", "1,41000", "", "2,81000"]
    )
    assert read_frames_csv(path) == [1000, 41000, 81000]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["frame,time", "0,0"], r"line 1: header must be 'frame,t_ns'"),
        ([], r"line 1: header must be"),
        (["frame,t_ns", "0,100", "1,200", "2,150"], r"line 4: t_ns 150 is not after .* 200"),
        (["frame,t_ns", "0,100", "1,100"], r"line 3: t_ns 100 is not after"),
        (["frame,t_ns", "0,100", "2,200"], r"line 3: frame 2, expected 1"),
        (["frame,t_ns", "0,1.5"], r"line 2: frame and t_ns must be integers"),
        (["frame,t_ns", "0,100,7"], r"line 2: expected 'frame,t_ns'"),
        (["frame,t_ns"], r"no frames after the header"),
    ],
)
def test_malformed_frames_csv_names_the_file_and_line(
    tmp_path: Path, rows: list[str], message: str
) -> None:
    path = write_csv(tmp_path / "cam.frames.csv", rows)
    with pytest.raises(CaptureError, match=message) as info:
        read_frames_csv(path)
    assert str(info.value).startswith(str(path))


def test_missing_frames_csv_is_a_capture_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match=r"cam\.frames\.csv: frames file not found"):
        read_frames_csv(tmp_path / "cam.frames.csv")


# -- replay ------------------------------------------------------------------------------------


def test_real_video_replays_every_frame_at_start_plus_i_over_fps() -> None:
    with VideoFileSource(CAR_VIDEO, "lane1_front", start_ns=2_000 * MS) as source:
        assert source.fps == 12.5 and source.frame_count == 377
        frames = list(source)
        stats = source.stats()
    assert len(frames) == 377 and stats.frames == 377 and stats.decode_errors == 0
    assert stats.state == "ended"
    assert [f.index for f in frames] == list(range(377))
    assert all(f.t_ns == 2_000 * MS + f.index * 80 * MS for f in frames)
    assert frames[0].image.shape == (432, 768, 3) and frames[0].image.dtype == np.uint8
    # Real pixels, and each frame its own array (the ring keeps them side by side).
    assert not np.array_equal(frames[0].image, frames[200].image)


def test_skip_to_passes_frames_without_decoding_and_lands_on_time() -> None:
    with VideoFileSource(CAR_VIDEO, "cam") as source:
        assert source.skip_to(10_000 * MS) == 125
        assert source.next_t_ns == 10_000 * MS
        frame = source.read()
        assert frame is not None and frame.index == 125 and frame.t_ns == 10_000 * MS
        stats = source.stats()
        assert stats.skipped == 125 and stats.frames == 1
        assert source.skip_to(10**15) == 377 - 126
        assert source.read() is None and source.next_t_ns is None


def test_frames_csv_times_are_used_and_match_the_pictures(tmp_path: Path) -> None:
    video = write_video(tmp_path / "cam.avi", 10, 25.0)
    times = [500 * MS + i * 41 * MS + (i % 3) * MS for i in range(10)]
    csv = write_csv(
        tmp_path / "cam.frames.csv", ["frame,t_ns", *(f"{i},{t}" for i, t in enumerate(times))]
    )
    with VideoFileSource(video, "cam", frames_csv=csv) as source:
        frames = list(source)
    assert [f.t_ns for f in frames] == times
    assert [painted_index(f) for f in frames] == list(range(10))


def test_video_longer_than_its_frames_csv_is_a_capture_error(tmp_path: Path) -> None:
    video = write_video(tmp_path / "cam.avi", 6, 25.0)
    csv = write_csv(tmp_path / "cam.frames.csv", ["frame,t_ns", "0,0", "1,40", "2,80"])
    with VideoFileSource(video, "cam", frames_csv=csv) as source:
        assert [f.t_ns for f in itertools.islice(source, 3)] == [0, 40, 80]
        with pytest.raises(CaptureError, match=r"cam\.frames\.csv: has 3 rows but .*cam\.avi"):
            source.read()


def test_a_corrupt_frame_is_counted_and_later_frames_keep_their_times(tmp_path: Path) -> None:
    video = write_video(tmp_path / "cam.avi", 12, 10.0)
    corrupt_jpeg(video, 5)
    with VideoFileSource(video, "cam") as source:
        frames = list(source)
        stats = source.stats()
    assert stats.decode_errors == 1 and stats.frames == 11
    assert [f.index for f in frames] == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11]
    assert [painted_index(f) for f in frames] == [f.index for f in frames]
    assert frames[5].t_ns == 600 * MS


def test_missing_or_unreadable_video_is_a_capture_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match=r"nothere\.mp4: video for camera 'cam' not found"):
        VideoFileSource(tmp_path / "nothere.mp4", "cam")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(CaptureError, match=r"junk\.mp4: cannot open video"):
        VideoFileSource(junk, "cam")


def test_scenario_camera_feeds_its_ring_up_to_the_scale_time(tmp_path: Path) -> None:
    write_video(tmp_path / "lane1_front.avi", 20, 25.0)
    rows = ["frame,t_ns", *(f"{i},{1_000 * MS + i * 40 * MS}" for i in range(20))]
    write_csv(tmp_path / "lane1_front.frames.csv", rows)
    manifest = {
        "version": 1,
        "t0_unix_ns": 1763705730000000000,
        "cameras": {"lane1_front": {"file": "lane1_front.avi", "frames": "lane1_front.frames.csv"}},
    }
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(manifest), encoding="utf-8")
    scenario = Scenario(tmp_path)
    cam = scenario.file.cameras["lane1_front"]
    ring = FrameRing("lane1_front", 4.0, 200)
    with VideoFileSource.from_scenario(tmp_path, "lane1_front", cam) as source:
        # The scale reports a vehicle at 1.2 s; the plate stage wants 0.1 s after it.
        assert source.feed(ring, 1_300 * MS) == 8
        assert not ring.closed
        got = ring.around(1_200 * MS, 0.1, 0.1)
        assert [f.index for f in got] == [3, 4, 5, 6, 7]
        assert source.feed(ring, 10**15) == 12
    assert ring.closed and not ring.wait_until(10**15, timeout_s=30.0)


# -- live --------------------------------------------------------------------------------------


class MjpegCamera:
    """An HTTP MJPEG camera on localhost that can be switched off and on again (same port)."""

    def __init__(self, fps: float = 50.0) -> None:
        self.period = 1.0 / fps
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._off = threading.Event()
        self.frozen = threading.Event()  # connection stays open, no more images (a hung camera)

    def start(self) -> None:
        self._off.clear()
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                for i in itertools.count():
                    if camera._off.is_set():
                        return
                    if camera.frozen.is_set():
                        time.sleep(0.02)
                        continue
                    img = np.full((48, 64, 3), level(i % 20), dtype=np.uint8)
                    jpg = cv2.imencode(".jpg", img)[1].tobytes()
                    head = (
                        f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpg)}\r\n\r\n"
                    )
                    try:
                        self.wfile.write(head.encode() + jpg + b"\r\n")
                    except (BrokenPipeError, ConnectionResetError):
                        return
                    time.sleep(camera.period)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Power off: streams end and new connections are refused."""
        self._off.set()
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"


@pytest.fixture
def mjpeg_camera() -> Iterator[MjpegCamera]:
    cam = MjpegCamera()
    cam.start()
    yield cam
    with contextlib.suppress(AssertionError, OSError):
        cam.stop()


def when(pred: Callable[[SourceStats], bool]) -> Callable[[SourceStats], bool]:
    return pred


def test_http_stream_drops_goes_down_and_comes_back_with_counters(
    mjpeg_camera: MjpegCamera, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="drivers.camera.live")
    ring = FrameRing("lane1_front", 4.0, 400)
    t_start = time.monotonic_ns()
    source = open_camera(
        mjpeg_camera.url, "lane1_front", ring.push, time.monotonic_ns,
        backoff_min_s=0.1, backoff_max_s=0.4, timeout_s=2.0,
    )  # fmt: skip
    try:
        assert source.wait_for(lambda s: s.state == "up" and s.frames >= 10, 20.0)
        first = ring.around(0, 0, 10**9)
        assert all(t_start <= f.t_ns <= time.monotonic_ns() for f in first)
        assert [f.t_ns for f in first] == sorted(f.t_ns for f in first)
        assert [painted_index(f) for f in first[:10]] == [f.index % 20 for f in first[:10]]

        mjpeg_camera.stop()
        assert source.wait_for(lambda s: s.state == "down" and s.open_failures >= 2, 20.0)
        frames_while_down = source.stats().frames

        mjpeg_camera.start()  # same port
        assert source.wait_for(
            lambda s: s.state == "up" and s.frames >= frames_while_down + 10, 20.0
        )
        stats = source.stats()
        assert stats.reconnects == 1 and stats.decode_errors == 0
        assert ring.stats().newest_t_ns == stats.last_t_ns
    finally:
        assert source.stop(10.0)
    assert source.state == "stopped"
    text = caplog.text
    assert "camera=lane1_front state=down" in text and "camera=lane1_front state=up" in text
    assert "after_down_s=" in text


def test_hung_stream_times_out_and_reconnects(mjpeg_camera: MjpegCamera) -> None:
    ring = FrameRing("cam", 4.0, 400)
    source = open_camera(
        mjpeg_camera.url, "cam", ring.push, time.monotonic_ns,
        backoff_min_s=0.1, backoff_max_s=0.2, timeout_s=0.5,
    )  # fmt: skip
    try:
        assert source.wait_for(lambda s: s.state == "up" and s.frames >= 5, 20.0)
        mjpeg_camera.frozen.set()  # TCP stays up, images stop: only the read timeout notices
        assert source.wait_for(lambda s: s.state == "down", 20.0)
        mjpeg_camera.frozen.clear()
        assert source.wait_for(lambda s: s.state == "up" and s.reconnects == 1, 20.0)
    finally:
        assert source.stop(10.0)


def test_file_camera_removed_then_back_goes_down_and_up(tmp_path: Path) -> None:
    video = write_video(tmp_path / "bench.avi", 5, 100.0)
    ring = FrameRing("bench", 4.0, 400)
    source = LiveCameraSource(
        str(video), "bench", ring.push, time.monotonic_ns, backoff_min_s=0.05, backoff_max_s=0.2
    )
    source.start()
    try:
        # A file camera loops: more frames than the file holds, still up, no reconnects.
        assert source.wait_for(lambda s: s.frames >= 12, 20.0)
        assert source.stats().reconnects == 0
        video.rename(tmp_path / "away.avi")
        assert source.wait_for(lambda s: s.state == "down", 20.0)
        shutil.move(tmp_path / "away.avi", video)
        assert source.wait_for(lambda s: s.state == "up" and s.reconnects == 1, 20.0)
    finally:
        assert source.stop(10.0)


def test_max_fps_sheds_frames_and_counts_them(tmp_path: Path) -> None:
    video = write_video(tmp_path / "fast.avi", 50, 200.0)
    ticks = itertools.count()
    ring = FrameRing("fast", 30.0, 1000)

    def clock() -> int:  # 20 ms per grab: a 50 fps camera on the unit's time line
        return next(ticks) * 20 * MS

    source = LiveCameraSource(str(video), "fast", ring.push, clock, max_fps=10.0)
    source.start()
    try:
        assert source.wait_for(lambda s: s.frames >= 10, 20.0)
    finally:
        assert source.stop(10.0)
    stats = source.stats()
    kept = ring.around(0, 0, 10**6)
    # 10 fps out of 50: after the first frame (half a period of jitter allowed) every 5th frame.
    gaps = [b.t_ns - a.t_ns for a, b in itertools.pairwise(kept)]
    assert gaps[0] == 60 * MS and set(gaps[1:]) == {100 * MS}
    assert [b.index - a.index for a, b in itertools.pairwise(kept)][1:] == [5] * (len(kept) - 2)
    assert stats.dropped >= 4 * (stats.frames - 2)


def test_unreachable_camera_retries_with_backoff_and_stops_promptly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="drivers.camera.live")
    ring = FrameRing("gate", 4.0, 10)
    url = "rtsp://admin:s3cret@127.0.0.1:1/stream1"  # nothing listens on port 1
    source = open_camera(
        url, "gate", ring.push, time.monotonic_ns, backoff_min_s=0.05, backoff_max_s=0.1
    )
    try:
        assert source.wait_for(lambda s: s.state == "down" and s.open_failures >= 3, 20.0)
    finally:
        assert source.stop(10.0)
    assert source.stats().frames == 0 and len(ring) == 0
    assert "state=down" in caplog.text and "still down" in caplog.text
    assert "s3cret" not in caplog.text and "admin:***@127.0.0.1:1" in caplog.text


def test_missing_usb_camera_is_down_not_a_crash() -> None:
    source = open_camera(
        "/dev/video99", "usb", lambda f: None, time.monotonic_ns, backoff_min_s=0.05
    )
    try:
        assert source.kind == "v4l2"
        assert source.wait_for(lambda s: s.state == "down" and s.open_failures >= 2, 20.0)
    finally:
        assert source.stop(10.0)


# -- URLs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("rtsp://192.0.2.10/stream1", "rtsp"),
        ("RTSPS://cam.local/s", "rtsp"),
        ("http://192.0.2.11/mjpg/video.mjpg", "http"),
        ("https://cam/x", "http"),
        ("/dev/video0", "v4l2"),
        ("2", "v4l2"),
        ("/srv/bench/lane1.mp4", "file"),
        ("lane1.mkv", "file"),
    ],
)
def test_camera_kind_by_url(url: str, kind: str) -> None:
    assert camera_kind(url) == kind


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("rtsp://op:pw@10.0.0.5:554/s?x=1") == "rtsp://op:***@10.0.0.5:554/s?x=1"
    assert redact_url("rtsp://10.0.0.5/s") == "rtsp://10.0.0.5/s"
    assert redact_url("/dev/video0") == "/dev/video0"


def test_max_fps_at_the_camera_rate_loses_no_frame_to_jitter(tmp_path: Path) -> None:
    video = write_video(tmp_path / "cam.avi", 30, 200.0)
    ticks = itertools.count()
    ring = FrameRing("cam", 30.0, 1000)

    def clock() -> int:  # 10 fps with frames alternately 40 ms late and on time
        k = next(ticks)
        return k * 100 * MS + (40 * MS if k % 2 else 0)

    source = LiveCameraSource(str(video), "cam", ring.push, clock, max_fps=10.0)
    source.start()
    try:
        assert source.wait_for(lambda s: s.frames >= 20, 20.0)
    finally:
        assert source.stop(10.0)
    assert source.stats().dropped == 0
