"""Camera memory on the unit: each camera's frame ring stays within `ring_max_mb`, keeps
`ring_fps` frames a second (the rest are skipped and counted), still gives the plate finder
frames spread over each vehicle's window, and `edge run`'s camera path fills it from a real
video played as a live camera, with health showing the camera up and the ring's counters."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from edge.config.site import Camera
from edge.service import camera_health, camera_rings, start_camera
from edge.vision.frames import MB, NS_PER_S, Frame, FrameRing, ring_seconds
from edge.vision.lookup import PlateFinder, trigger_ns
from edge.vision.plates.types import PlateRead
from tests.test_plate_lookup import CAMERA, vehicle

MS = 1_000_000
NAME = "lane1_front"


def flat(width: int, height: int, level: int = 0) -> np.ndarray:
    return np.full((height, width, 3), level, np.uint8)


def push_at_fps(ring: FrameRing, image: np.ndarray, fps: float, seconds: float) -> list[Frame]:
    """Push `seconds` of frames at `fps` (all sharing `image`); the frames pushed."""
    frames = [
        Frame(ring.camera, i, round(i * NS_PER_S / fps), image) for i in range(round(seconds * fps))
    ]
    for f in frames:
        ring.push(f)
    return frames


# --- the byte cap ------------------------------------------------------------------------------


def test_default_ring_holds_4_s_of_1080p_within_its_cap(caplog: pytest.LogCaptureFixture) -> None:
    cam = Camera(url="rtsp://192.0.2.10/s", lane=1)  # defaults: 210 MB, 8 fps, 4 s, 25 fps
    assert cam.ring_max_bytes == 210 * MB and cam.ring_fps == 8
    ring = camera_rings({NAME: cam})[NAME]
    hd = flat(1920, 1080)  # one array for every frame: the ring counts each frame's 6.2 MB
    caplog.set_level(logging.WARNING, logger="edge.vision.frames")
    for i in range(250):  # 10 s at 25 fps
        ring.push(Frame(NAME, i, i * 40 * MS, hd))
        assert ring.stats().bytes <= 210 * MB
    s = ring.stats()
    assert s.size == 33 and s.bytes == 33 * hd.nbytes  # 4 s at 8 fps, not 4 s x 25 fps = 622 MB
    assert s.pushed + s.skipped == 250 and s.pushed in (80, 81)  # 8 of 25 fps stored
    assert s.newest_t_ns is not None and s.oldest_t_ns is not None
    assert (s.newest_t_ns - s.oldest_t_ns) / NS_PER_S == pytest.approx(4.0)
    assert caplog.records == []  # the whole buffer fits: nothing to warn about


def test_small_cap_holds_less_than_the_buffer_and_says_how_many_seconds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cam = Camera(url="rtsp://192.0.2.10/s", lane=1, ring_max_mb=96, ring_fps=10)
    ring = camera_rings({NAME: cam})[NAME]
    hd = flat(1920, 1080)
    caplog.set_level(logging.WARNING, logger="edge.vision.frames")
    for i in range(250):
        ring.push(Frame(NAME, i, i * 40 * MS, hd))
        assert ring.stats().bytes <= 96 * MB
    s = ring.stats()
    assert s.size == 15 and s.evicted == s.pushed - s.size
    assert s.newest_t_ns is not None and s.oldest_t_ns is not None
    held_s = (s.newest_t_ns - s.oldest_t_ns) / NS_PER_S
    assert held_s == pytest.approx(ring_seconds(hd.nbytes, cam.ring_max_bytes, 10.0)) == 1.4
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1  # once, not per frame
    assert f"camera={NAME} frame ring holds only 1.4 s of the 4.0 s buffer" in warnings[0]
    assert "1920x1080 (6.2 MB each)" in warnings[0]


def test_cap_holds_when_the_camera_changes_resolution_and_evictions_are_counted() -> None:
    ring = FrameRing.for_camera("cam", 30.0, 25.0, max_bytes=MB)
    sizes = [(320, 240), (640, 480), (160, 120), (800, 600), (320, 240)]
    for i in range(200):
        w, h = sizes[i // 40]
        ring.push(Frame("cam", i, i * 40 * MS, flat(w, h, i % 256)))
        s = ring.stats()
        # Over the cap only when the newest frame alone is bigger (800x600 = 1.44 MB).
        assert s.bytes <= MB or s.size == 1
        assert s.pushed == i + 1 and s.evicted == s.pushed - s.size
    newest = ring.latest()
    assert newest is not None and newest.index == 199  # the newest frame always stays
    assert ring.stats().size == MB // (320 * 240 * 3)


def test_a_ring_that_holds_buffer_s_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    cam = Camera(url="rtsp://192.0.2.10/s", lane=1)
    ring = camera_rings({NAME: cam})[NAME]
    caplog.set_level(logging.WARNING, logger="edge.vision.frames")
    push_at_fps(ring, flat(640, 360), 25.0, 10.0)  # 0.7 MB a frame: 33 frames of 4 s fit
    s = ring.stats()
    assert s.bytes < cam.ring_max_bytes and s.size == 33
    assert caplog.records == []


# --- ring_fps -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fps", [12.5, 25.0, 30.0, 50.0])
def test_faster_cameras_are_stored_at_ring_fps_and_the_rest_counted_skipped(fps: float) -> None:
    ring = FrameRing.for_camera("cam", 60.0, fps, keep_fps=10.0)
    frames = push_at_fps(ring, flat(4, 4), fps, 20.0)
    s = ring.stats()
    assert s.pushed + s.skipped == len(frames) and s.dropped == 0
    assert 180 <= s.pushed <= 201  # 20 s at (at most) 10 fps
    # Never two stored frames closer than half a period: no bursts after the cadence slips.
    times = [f.t_ns for f in ring.around(0, 0.0, 60.0)]
    assert min(np.diff(times)) >= NS_PER_S // 20


def test_a_camera_at_ring_fps_with_jitter_loses_no_frame() -> None:
    rng = np.random.default_rng(3)
    ring = FrameRing.for_camera("cam", 60.0, 10.0, keep_fps=10.0)
    times = [i * 100 * MS + int(rng.integers(-20, 21)) * MS for i in range(1, 300)]
    for i, t in enumerate(times):
        ring.push(Frame("cam", i, t, flat(4, 4)))
    assert ring.stats().skipped == 0 and ring.stats().pushed == len(times)


def test_a_gap_restarts_the_cadence_without_a_burst() -> None:
    ring = FrameRing.for_camera("cam", 60.0, 25.0, keep_fps=10.0)
    before = [i * 40 for i in range(25)]  # 1 s at 25 fps, then the stream stalls 3 s
    after = [4000 + i * 40 for i in range(25)]
    for i, t in enumerate(before + after):
        ring.push(Frame("cam", i, t * MS, flat(4, 4)))
    kept_after = [f.t_ns // MS for f in ring.around(4000 * MS, 0.0, 2.0)]
    assert kept_after[0] == 4000  # the first frame after the stall is kept at once
    assert abs(len(kept_after) - 10) <= 1 and min(np.diff(kept_after)) >= 50


class RecordingReader:
    """Stands in for the plate model (whose weights are not part of this test): it records
    which frames the finder asks it to read and reads no plate on any."""

    def __init__(self) -> None:
        self.read_t_ns: list[int] = []
        self.by_id: dict[int, int] = {}

    def read(self, image: np.ndarray, frame_side: int | None = None) -> list[PlateRead]:
        self.read_t_ns.append(self.by_id[id(image)])
        return []


def test_plate_finder_reads_frames_spread_over_the_window_first_at_ring_fps() -> None:
    cam = CAMERA.model_copy(update={"fps": 25.0, "ring_fps": 10.0, "buffer_s": 4.0})
    ring = camera_rings({NAME: cam})[NAME]
    reader = RecordingReader()
    for i in range(16 * 25):  # 16 s at 25 fps; each frame its own tiny image
        image = flat(8, 8, i % 256)
        reader.by_id[id(image)] = i * 40 * MS
        ring.push(Frame(NAME, i, i * 40 * MS, image))
    assert ring.stats().skipped > ring.stats().pushed  # most 25 fps frames were not stored
    v = vehicle(14.0)  # reaches the camera line at 15.0 s, within the last 4 s
    t = trigger_ns(v, cam)
    finder = PlateFinder({NAME: cam}, {NAME: ring}, reader, "cn")
    found = finder.find(v)
    assert found is not None and found.plate is None  # the recording reader reads no plate
    # no frame shows a plate: the spread frames are read first, then the window's others
    window = [f.t_ns for f in ring.around(t, cam.plate_window_s, cam.plate_window_s)]
    assert found.frames_read == len(window) == len(reader.read_t_ns) > cam.plate_frames
    assert sorted(reader.read_t_ns) == window
    read = reader.read_t_ns[: cam.plate_frames]
    half = round(cam.plate_window_s * NS_PER_S)
    assert all(t - half <= x <= t + half for x in read)
    # Read first: a frame within one stored period (100 ms at 10 fps) of the trigger time.
    assert abs(read[0] - t) <= NS_PER_S / cam.ring_fps
    assert max(read) - min(read) >= half  # spread over the window, not five neighbours
    assert found.frame is not None and found.frame.t_ns == read[0]  # evidence: the nearest


def test_a_ring_fps_that_leaves_no_frame_in_the_plate_window_is_refused() -> None:
    with pytest.raises(ValidationError, match="ring_fps 1 keeps no frame in a plate window"):
        Camera(url="rtsp://192.0.2.10/s", lane=1, ring_fps=1.0, plate_window_s=0.4)
    with pytest.raises(ValidationError, match="ring_max_mb"):
        Camera(url="rtsp://192.0.2.10/s", lane=1, ring_max_mb=0.5)


# --- edge run's camera path, live ----------------------------------------------------------------


def write_mp4(path: Path, frames: int, fps: float, size: tuple[int, int]) -> Path:
    """A real mp4v video whose frame i is flat grey, brighter with i."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(flat(size[0], size[1], 10 + 8 * i))
    writer.release()
    return path


def test_live_camera_fills_its_ring_within_the_cap_and_health_shows_it_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    video = write_mp4(tmp_path / "lane1.mp4", 25, 25.0, (320, 240))  # 1 s, played in a loop
    frame_bytes = 320 * 240 * 3
    cam = CAMERA.model_copy(
        update={"url": str(video), "fps": 25.0, "ring_fps": 10.0, "ring_max_mb": 1.0}
    )
    rings = camera_rings({NAME: cam})
    ring = rings[NAME]
    caplog.set_level(logging.WARNING, logger="edge.vision.frames")
    source = start_camera(NAME, cam, ring, time.monotonic_ns)
    try:
        peak = 0
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline:
            s = ring.stats()
            peak = max(peak, s.bytes)
            if s.evicted >= 5 and s.skipped >= 5:
                break
            time.sleep(0.02)
        health = camera_health(rings, {NAME: source})[NAME]
    finally:
        assert source.stop(timeout_s=10.0)
    s = ring.stats()
    assert s.evicted >= 5 and s.skipped >= 5, s
    assert peak <= cam.ring_max_bytes and s.bytes <= cam.ring_max_bytes
    assert s.size == cam.ring_max_bytes // frame_bytes == 4
    assert health["state"] == "up" and health["frames"] > 0
    assert health["decode_errors"] == 0 and health["open_failures"] == 0
    assert health["ring_frames"] == 4 and health["ring_bytes"] == 4 * frame_bytes
    assert health["ring_skipped"] > 0 and health["ring_evicted"] > 0
    # Every decoded frame reached the ring, stored or skipped by ring_fps: none vanished.
    assert health["frames"] <= s.pushed + s.skipped
    assert [r.getMessage() for r in caplog.records if "holds only" in r.getMessage()] != []


def test_doctor_warns_when_the_ring_cannot_hold_buffer_s_of_this_cameras_frames(
    tmp_path: Path,
) -> None:
    from edge.config.site import load_site
    from edge.doctor import check_camera
    from tests.conftest import REFERENCE_SITE

    video = write_mp4(tmp_path / "lane1.mp4", 3, 25.0, (640, 480))  # 0.9 MB a frame
    data = yaml.safe_load(REFERENCE_SITE.read_text())
    data["cameras"][NAME]["url"] = str(video)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    assert check_camera(NAME, load_site(path), 5.0).level == "ok"  # 210 MB: 4 s of 640x480 fit
    data["cameras"][NAME]["ring_max_mb"] = 10  # 10 frames: 1.1 s at 8 fps
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    finding = check_camera(NAME, load_site(path), 5.0)
    assert finding.level == "warn"
    assert "640x480 frame decoded, but ring_max_mb 10 holds only 1.1 s of buffer_s 4" in (
        finding.detail
    )
    # the zone a technician drew, in the picture's pixels, to check it against the picture
    data["cameras"][NAME].update(ring_max_mb=210, plate_zone=[0, 0.25, 0.5, 1])
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    zoned = check_camera(NAME, load_site(path), 5.0)
    assert zoned.level == "ok"
    assert zoned.detail.endswith(
        "640x480 frame decoded, plates read in x 0-320, y 120-480 px (plate_zone)"
    )
