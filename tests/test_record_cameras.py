"""`edge record` records the site's cameras: video + frames.csv on the serial capture's time line.

The camera is a small video file played as a live camera (what bench rigs do); the LCS1 board is
a pty, as in test_cli_record.py. What comes out must be a scenario `edge replay` accepts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tty
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from drivers.camera import LiveCameraSource, VideoFileSource, VideoRecorder, read_frames_csv
from edge.bench.scenario import Scenario
from edge.cli.main import main
from edge.vision.frames import Frame
from tests.test_cli_record import check_capture, frames, site_on, start_record

W, H, FPS, N = 320, 240, 10.0, 30
CAMERA = "lane1_front"  # the reference site's camera


def level(i: int) -> int:
    """Grey level of the block that numbers frame i of the test video."""
    return 10 + 8 * i


def counter_image(i: int, size: tuple[int, int] = (W, H)) -> np.ndarray:
    """Frame i of the test camera: a grey block whose level is i, and i drawn as text."""
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, : w // 2] = level(i)
    cv2.putText(img, str(i), (w // 2, h - 20), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
    return img


def block_level(img: np.ndarray) -> float:
    """Mean of the numbering block (its inner part, away from codec ringing at the edges)."""
    h, w = img.shape[:2]
    return float(img[h // 8 : 3 * h // 8, w // 8 : 3 * w // 8].mean())


def frame_numbers(images: list[np.ndarray], reference: list[float]) -> list[int]:
    """Which frame of the camera each image shows: the reference level nearest its block's.

    Each encode shifts grey levels by a few units (limited-range YUV), levels are 8 apart.
    """
    numbers = []
    for img in images:
        got = block_level(img)
        numbers.append(min(range(len(reference)), key=lambda j: abs(reference[j] - got)))
    return numbers


def write_camera_video(path: Path, n: int = N) -> None:
    """n frames (~3 s) of a 320x240 camera at 10 fps."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (W, H))
    assert writer.isOpened()
    for i in range(n):
        writer.write(counter_image(i))
    writer.release()


def decode_all(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    images = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        images.append(img)
    cap.release()
    return images


def site_with_camera(tmp_path: Path, serial_url: str, camera_url: str) -> Path:
    """The reference site with its board on `serial_url` and its camera playing `camera_url`."""
    path = site_on(tmp_path, serial_url)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["cameras"][CAMERA]["url"] = camera_url
    data["cameras"][CAMERA]["fps"] = FPS
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.slow
def test_record_writes_camera_video_that_replay_accepts(tmp_path: Path) -> None:
    camera_video = tmp_path / "camera.mp4"
    write_camera_video(camera_video)
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        site = site_with_camera(tmp_path, os.ttyname(slave), str(camera_video))
        out = tmp_path / "rec"
        t0_before = time.time_ns()
        proc, said = start_record(site, out, "--seconds", "2")
        assert CAMERA in said  # the start line names the camera it records
        sent = frames(100)
        os.write(master, b"".join(f.to_bytes() for f in sent))
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
        check_capture(out, sent, t0_before)  # the serial side is recorded as before
    finally:
        os.close(master)
        os.close(slave)

    scenario = Scenario(out)
    cam = scenario.file.cameras[CAMERA]
    assert (cam.file, cam.frames) == (f"{CAMERA}.mkv", f"{CAMERA}.frames.csv")
    times = read_frames_csv(out / f"{CAMERA}.frames.csv")  # header, numbering, increasing t_ns
    images = decode_all(out / f"{CAMERA}.mkv")
    assert len(images) == len(times) >= 5
    assert all(img.shape == (H, W, 3) for img in images)
    # The camera's frames in their order, none lost (the file camera starts at its frame 0).
    source_levels = [block_level(img) for img in decode_all(camera_video)]
    assert frame_numbers(images, source_levels) == list(range(len(images)))
    # Times are on the scenario's time line: after t0, within the recording.
    assert times[0] >= 0 and times[-1] < 10 * 10**9
    assert f"{CAMERA}: {len(times)} frames 320x240" in stdout

    # Replay reads the video with the recorded times, and accepts the folder.
    with VideoFileSource.from_scenario(out, CAMERA, cam) as source:
        assert [f.t_ns for f in source] == times
    assert main(["replay", str(out), "--out", str(tmp_path / "replay")]) == 0


def test_recorder_resizes_odd_frames_and_counts_them(tmp_path: Path) -> None:
    rec = VideoRecorder("cam", tmp_path, FPS)
    sizes = [(W, H), (W, H), (2 * W, 2 * H), (W, H)]
    for i, size in enumerate(sizes):
        rec.write(Frame("cam", i, 1_000 + i * 100_000_000, counter_image(i, size)))
    rec.close()
    st = rec.stats()
    assert (st.frames, st.resized, st.write_errors, st.size) == (4, 1, 0, (W, H))
    images = decode_all(rec.video_path)
    assert [img.shape for img in images] == [(H, W, 3)] * 4
    assert frame_numbers(images, [level(i) for i in range(N)]) == [0, 1, 2, 3]
    assert read_frames_csv(rec.csv_path) == [1_000 + i * 100_000_000 for i in range(4)]


def test_recorder_that_never_got_a_frame_leaves_no_files(tmp_path: Path) -> None:
    rec = VideoRecorder("cam", tmp_path, FPS)
    rec.close()
    assert not rec.started
    assert list(tmp_path.iterdir()) == []


_KILLED_RECORDER = """
import os, sys
from pathlib import Path
from drivers.camera import VideoRecorder
from edge.vision.frames import Frame
import numpy as np
rng = np.random.default_rng(1)
rec = VideoRecorder("cam", Path(sys.argv[1]), 10.0)
for i in range(120):  # noise: frames big enough that the encoder writes out as it goes
    img = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    rec.write(Frame("cam", i, i * 100_000_000, img))
os._exit(9)  # killed hard: no close(), no encoder flush
"""


def test_recorder_killed_hard_leaves_a_readable_video(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_RECORDER, str(tmp_path)], cwd=repo, timeout=60, check=False
    )
    assert proc.returncode == 9
    times = read_frames_csv(tmp_path / "cam.frames.csv")
    assert len(times) == 120  # every row reached the file
    with VideoFileSource(tmp_path / "cam.mkv", "cam", frames_csv=tmp_path / "cam.frames.csv") as v:
        got = list(v)
    # What the encoder had flushed plays, with its recorded times; the rest is simply missing.
    assert 30 <= len(got) <= 120
    assert [f.t_ns for f in got] == times[: len(got)]


def test_camera_that_goes_away_is_recorded_again_with_the_gap_in_its_times(
    tmp_path: Path,
) -> None:
    video = tmp_path / "camera.mp4"
    away = tmp_path / "unplugged.mp4"
    write_camera_video(video, 10)  # 1 s per pass
    out = tmp_path / "rec"
    out.mkdir()
    rec = VideoRecorder(CAMERA, out, FPS)
    mono0 = time.monotonic_ns()
    source = LiveCameraSource(
        str(video), CAMERA, rec.write, lambda: time.monotonic_ns() - mono0, backoff_min_s=0.2
    )
    source.start()
    try:
        assert source.wait_for(lambda s: s.frames >= 3, 30)
        video.rename(away)  # the camera goes away: the looping source cannot reopen it
        assert source.wait_for(lambda s: s.state == "down", 30)
        gap_from = time.monotonic_ns() - mono0
        time.sleep(0.5)
        away.rename(video)
        assert source.wait_for(lambda s: s.reconnects == 1 and s.frames >= 15, 30)
    finally:
        source.stop()
        rec.close()
    times = read_frames_csv(rec.csv_path)
    assert len(decode_all(rec.video_path)) == len(times) == rec.stats().frames
    before = [t for t in times if t < gap_from]
    after = [t for t in times if t > gap_from]
    assert len(before) == 10 and after  # the whole first pass, then frames again
    assert after[0] - before[-1] > 500_000_000  # the time the camera was away shows
