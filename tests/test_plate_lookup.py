"""The plate of a weighed vehicle: frames at its trigger time read with the real models, voted,
and kept as evidence of its violation; no frames or no readable plate means plate null."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from edge.config.site import Camera, SiteConfig, load_site
from edge.outbox.store import Outbox
from edge.pipeline import VehiclePipeline
from edge.records.builder import ClockInfo, RecordWriter
from edge.records.jws import decode_compact
from edge.records.keys import SigningKey
from edge.vision.frames import NS_PER_S, Frame, FrameRing
from edge.vision.lookup import LiveFrames, PlateFinder, pick_frames, trigger_ns, whole_views
from edge.vision.plates import PlateRead, PlateReader, PlatesConfig, vote
from edge.wim.model import Axle, WeighedVehicle
from tests.conftest import REFERENCE_SITE, SHARED

# plates from the crops the recogniser trained on: these tests check timing and evidence, the
# recogniser's accuracy is measured on the held-out crops (test_plates, benchmarks/plates.py)
CROPS = SHARED / "data" / "plates" / "ccpd-crops" / "images"
WIDTH, HEIGHT = 640, 360
GREY = 118
T0_UNIX_NS = 1_763_705_730_000_000_000


def plate_image(text: str) -> np.ndarray:
    """A real CCPD plate crop (94x24) of `text`, upscaled x3."""
    path = CROPS / f"{text}.jpg"
    crop = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
    assert crop is not None, path
    return np.asarray(
        cv2.resize(crop, (crop.shape[1] * 3, crop.shape[0] * 3), interpolation=cv2.INTER_CUBIC)
    )


def jpeg_image(data: bytes) -> np.ndarray:
    """Decode JPEG bytes (evidence) to a BGR image."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return np.asarray(image)


def covered_plate() -> np.ndarray:
    """A plate-sized board with no characters (a covered plate)."""
    board = np.zeros((72, 282, 3), np.uint8)
    board[:] = (140, 60, 20)  # plate blue, BGR
    return board


def scene(plates: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """A grey frame with each plate pasted at (its offset from the trigger time in s)."""
    frame = np.full((HEIGHT, WIDTH, 3), GREY, np.uint8)
    for img, dt in plates:
        y = round(140 + dt * 100)  # the vehicle moves down the picture, 100 px/s
        h, w = img.shape[:2]
        if -h < y < HEIGHT:
            top, bottom = max(0, y), min(HEIGHT, y + h)
            frame[top:bottom, 180 : 180 + w] = img[top - y : bottom - y]
    return frame


def vehicle(
    t_s: float, speed_kmh: float = 43.2, lane: int = 1, load_kg: float = 9000
) -> WeighedVehicle:
    """A two-axle vehicle whose first axle crosses row A at t_s."""
    axles = (Axle(load_kg, 0.0), Axle(load_kg, 4.0))
    return WeighedVehicle(lane, round(t_s * NS_PER_S), speed_kmh, axles, "cal-1")


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader(PlatesConfig())


CAMERA = Camera(url="rtsp://192.0.2.10/s", lane=1, trigger_distance_m=12.0, fps=10.0)


def ring_with(frames: dict[float, np.ndarray], fps: float = 10.0) -> FrameRing:
    ring = FrameRing.for_camera("lane1_front", 30.0, fps)
    for i, (t_s, image) in enumerate(sorted(frames.items())):
        ring.push(Frame("lane1_front", i, round(t_s * NS_PER_S), image))
    return ring


def video_frames(events: list[tuple[float, np.ndarray]], until_s: float) -> dict[float, np.ndarray]:
    """10 fps frames from 0 to until_s with each (trigger time, plate) in view around it."""
    out = {}
    for i in range(round(until_s * 10)):
        t = i / 10
        out[t] = scene([(img, t - trig) for trig, img in events if abs(t - trig) < 1.0])
    return out


# --- trigger time and frame choice ----------------------------------------------------------


def test_trigger_time_is_when_the_vehicle_reaches_the_camera_line() -> None:
    v = vehicle(10.0, speed_kmh=43.2)  # 12 m/s: 12 m take 1 s
    assert trigger_ns(v, CAMERA) == 11 * NS_PER_S
    stopped = vehicle(10.0, speed_kmh=0.0)  # no speed: bounded, not a division by zero
    assert 10 * NS_PER_S < trigger_ns(stopped, CAMERA) <= 34 * NS_PER_S


def test_frames_are_spread_over_the_window_and_read_closest_first() -> None:
    frames = [Frame("c", i, i * 100_000_000, np.zeros((4, 4, 3), np.uint8)) for i in range(9)]
    picked = pick_frames(frames, 400_000_000, 5)
    assert [f.index for f in picked] == [4, 2, 6, 0, 8]
    assert [f.index for f in pick_frames(frames[:3], 0, 5)] == [0, 1, 2]


def test_only_whole_views_of_a_plate_vote_where_there_are_any() -> None:
    # the plate model read a plate cut by the frame's top edge as 浙J39289, sure of both, and
    # voted with one whole view (沪T39289) it gave 沪J39289: a view cut by the edge loses
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    sure = (1.0,) * 7

    def read(i: int, text: str, box: tuple[int, int, int, int]) -> tuple[str, Frame, PlateRead]:
        return ("cam", Frame("cam", i, i, image), PlateRead(text, "blue", 1.0, box, sure))

    cut = [read(0, "浙J39289", (300, 0, 440, 40)), read(1, "浙J39289", (0, 200, 120, 240))]
    whole = read(2, "沪T39289", (300, 150, 440, 190))
    assert whole_views([*cut, whole]) == [whole]
    voted = vote([r for _, _, r in [*cut, whole]], "cn")  # what it prevents: the cut views win
    assert voted is not None and voted.text == "浙J39289"
    assert whole_views(cut) == cut  # nothing better: the cut views still vote
    # read in a plate zone, a plate touching the zone's edge is cut too (reads are clipped to it)
    at_zone_edge = read(3, "浙J39289", (200, 150, 320, 190))
    inside = read(4, "沪T39289", (100, 150, 240, 190))
    assert whole_views([at_zone_edge, inside]) == [at_zone_edge, inside]
    zones = {"cam": (0.0, 0.0, 0.5, 1.0)}
    assert whole_views([at_zone_edge, inside], zones) == [inside]


# --- PlateFinder on real models ---------------------------------------------------------------


def test_reads_the_plate_at_the_trigger_time_not_the_neighbours(reader: PlateReader) -> None:
    # Three vehicles 3 s apart with different plates; ours reaches the camera at t = 11 s.
    events = [
        (8.0, plate_image("川X90621")),
        (11.0, plate_image("皖AX6996")),
        (14.0, plate_image("皖A77Z41")),
    ]
    ring = ring_with(video_frames(events, 16.0))
    finder = PlateFinder({"lane1_front": CAMERA}, {"lane1_front": ring}, reader, "cn")
    found = finder.find(vehicle(10.0))
    assert found is not None and found.plate is not None
    assert found.plate.text == "皖AX6996"
    assert 0.6 <= found.plate.confidence <= 1.0
    assert found.frame is not None and abs(found.frame.t_ns - 11 * NS_PER_S) <= 0.4 * NS_PER_S
    assert finder.stats.read == 1
    assert 1 <= finder.stats.frames_read <= CAMERA.plate_frames


def test_a_plate_on_a_frame_the_spread_steps_over_is_still_read(reader: PlateReader) -> None:
    # a fast vehicle at a low frame rate: its plate is readable on one frame of the window,
    # 0.1 s after the trigger time, and the five frames spread over the window miss it
    frames = {i / 10: np.full((HEIGHT, WIDTH, 3), GREY, np.uint8) for i in range(100, 125)}
    frames[11.1] = scene([(plate_image("皖AX6996"), 0.0)])
    finder = PlateFinder({"lane1_front": CAMERA}, {"lane1_front": ring_with(frames)}, reader, "cn")
    found = finder.find(vehicle(10.0))
    assert found is not None and found.plate is not None and found.plate.text == "皖AX6996"
    assert found.frame is not None and found.frame.t_ns == round(11.1 * NS_PER_S)
    assert finder.stats.frames_read == 9  # the window's other four frames, read after the five


def two_lanes(ours: np.ndarray, theirs: np.ndarray, until_s: float) -> dict[float, np.ndarray]:
    """10 fps frames of a camera that sees two lanes: our vehicle on the left half reaches the
    trigger line at 11 s, the one in the next lane, on the right half, 0.1 s later."""
    out = {}
    for i in range(round(until_s * 10)):
        t = i / 10
        left, right = scene([(ours, t - 11.0)]), scene([(theirs, t - 11.1)])
        out[t] = np.concatenate([left, right], axis=1)
    return out


def test_a_plate_zone_keeps_the_next_lanes_vehicle_out_of_the_record(
    reader: PlateReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = two_lanes(plate_image("皖A77Z41"), plate_image("川X90621"), 13.0)
    # without a zone the neighbour's plate, read a little surer on every frame, is the plate of
    # the weighed vehicle: what the zone prevents
    whole = PlateFinder({"lane1_front": CAMERA}, {"lane1_front": ring_with(frames)}, reader, "cn")
    wrong = whole.find(vehicle(10.0))
    assert wrong is not None and wrong.plate is not None and wrong.plate.text == "川X90621"
    left = CAMERA.model_copy(update={"plate_zone": (0.0, 0.0, 0.5, 1.0)})
    finder = PlateFinder({"lane1_front": left}, {"lane1_front": ring_with(frames)}, reader, "cn")
    sizes: list[int] = []
    detect = reader.detector.detect
    monkeypatch.setattr(
        reader.detector, "detect", lambda image, size=0: sizes.append(size) or detect(image, size)
    )
    found = finder.find(vehicle(10.0))
    assert found is not None and found.plate is not None and found.plate.text == "皖A77Z41"
    # the zone is searched at the scale of the whole frame (640 px over its 1280, so 320 over
    # the zone's 640): half the frame, half the detector's work
    assert sizes[0] == 320
    # the evidence is the whole frame, the plate's box on it, and the crop is our plate
    assert found.frame is not None and found.frame.image.shape == (HEIGHT, 2 * WIDTH, 3)
    assert found.box is not None and 170 <= found.box[0] < found.box[2] <= 480
    crop = jpeg_image({e.name: e for e in found.evidence_images()}["lane1_front-plate.jpg"].data)
    assert 282 <= crop.shape[1] <= 400
    right = CAMERA.model_copy(update={"plate_zone": (0.5, 0.0, 1.0, 1.0)})
    other = PlateFinder({"lane1_front": right}, {"lane1_front": ring_with(frames)}, reader, "cn")
    theirs = other.find(vehicle(10.1))
    assert theirs is not None and theirs.box is not None and theirs.box[0] >= WIDTH
    assert theirs.plate is not None and theirs.plate.text == "川X90621"


def test_covered_plate_and_missing_frames_give_null(reader: PlateReader) -> None:
    ring = ring_with(video_frames([(11.0, covered_plate())], 13.0))
    finder = PlateFinder({"lane1_front": CAMERA}, {"lane1_front": ring}, reader, "cn")
    covered = finder.find(vehicle(10.0))
    assert covered is not None and covered.plate is None
    assert covered.frame is not None  # the frame still serves as evidence of a violation
    late = finder.find(vehicle(60.0))  # the ring has nothing around t = 61 s
    assert late is not None and late.plate is None and late.frame is None
    assert finder.find(vehicle(10.0, lane=2)) is None  # no camera on lane 2
    assert (finder.stats.unread, finder.stats.no_frames, finder.stats.read) == (1, 1, 0)


def test_evidence_is_the_unaltered_frame_and_the_plate_crop(reader: PlateReader) -> None:
    ring = ring_with(video_frames([(11.0, plate_image("皖A77Z41"))], 13.0))
    finder = PlateFinder({"lane1_front": CAMERA}, {"lane1_front": ring}, reader, "cn")
    found = finder.find(vehicle(10.0))
    assert found is not None and found.frame is not None
    before = found.frame.image.copy()
    images = {e.name: e for e in found.evidence_images()}
    assert set(images) == {"lane1_front-frame.jpg", "lane1_front-plate.jpg"}
    assert all(e.media_type == "image/jpeg" for e in images.values())
    full = jpeg_image(images["lane1_front-frame.jpg"].data)
    assert full.shape == (HEIGHT, WIDTH, 3)
    # Nothing drawn: the JPEG is the frame (up to compression), and the frame is untouched.
    assert np.abs(full.astype(int) - before.astype(int)).mean() < 3
    assert np.array_equal(found.frame.image, before)
    crop = jpeg_image(images["lane1_front-plate.jpg"].data)
    # The 282x72 plate with a margin, not the whole frame.
    assert 72 <= crop.shape[0] <= 150 and 282 <= crop.shape[1] <= 400


# --- live waiting -----------------------------------------------------------------------------


def test_live_wait_returns_once_the_camera_catches_up_and_not_for_a_dead_camera() -> None:
    ring = FrameRing.for_camera("lane1_front", 4.0, 10.0)
    up = {"lane1_front": True}
    live = LiveFrames({"lane1_front": CAMERA}, {"lane1_front": ring}, lambda c: up[c], lambda: 0)
    image = np.full((8, 8, 3), GREY, np.uint8)
    pusher = threading.Timer(0.2, lambda: ring.push(Frame("lane1_front", 0, 2 * NS_PER_S, image)))
    pusher.start()
    assert live("lane1_front", 2 * NS_PER_S) is True  # waited for the camera thread's frame
    pusher.join()
    up["lane1_front"] = False
    assert live("lane1_front", 3 * NS_PER_S) is False  # down: not waited for
    assert live.timeouts == 0


# --- pipeline: records and evidence ------------------------------------------------------------


def _site(tmp_path: Path, plates: bool) -> SiteConfig:
    data = yaml.safe_load(REFERENCE_SITE.read_text())
    if plates:
        data["plates"] = {"region": "cn"}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return load_site(path)


def _payload(jws: str) -> dict[str, Any]:
    return dict(json.loads(decode_compact(jws).payload))


def _pipeline(
    tmp_path: Path, site: SiteConfig, finder: PlateFinder | None, evidence: Path
) -> VehiclePipeline:
    outbox = Outbox(tmp_path / "outbox.sqlite", site.outbox.model_copy(update={"ballast_bytes": 0}))
    writer = RecordWriter(
        outbox,
        SigningKey.generate(),
        site.site.id,
        site.device.id,
        "test",
        models={},
        clock_info=lambda: ClockInfo("replay", False, None),
        now_ns=lambda: T0_UNIX_NS,
    )
    return VehiclePipeline(
        site,
        writer,
        T0_UNIX_NS,
        plate_lookup=finder.find if finder else None,
        evidence_dir=evidence,
    )


def test_violation_lists_its_evidence_and_the_vehicle_record_its_plate(
    tmp_path: Path, reader: PlateReader
) -> None:
    site = _site(tmp_path, plates=True)
    ring = ring_with(video_frames([(11.0, plate_image("沪C8GK31"))], 13.0))
    finder = PlateFinder(site.cameras, {"lane1_front": ring}, reader, "cn")
    records: list[dict[str, Any]] = []
    pipeline = _pipeline(tmp_path, site, finder, tmp_path / "evidence")
    pipeline.on_record = lambda r: records.append(_payload(r.jws))
    pipeline.process(vehicle(10.0, load_kg=20_000))  # 40 t on two axles: overloaded
    veh, vio = records
    assert veh["type"] == "vehicle" and vio["type"] == "violation"
    assert veh["plate"]["text"] == vio["plate"]["text"] == "沪C8GK31"
    names = [e["name"] for e in vio["evidence"]]
    assert names == ["lane1_front-frame.jpg", "lane1_front-plate.jpg"]
    for entry in vio["evidence"]:
        data = (tmp_path / "evidence" / vio["id"] / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["bytes"]
    assert pipeline.counts.plates_read == 1 and pipeline.counts.evidence_files == 2


def test_unwritable_evidence_costs_the_images_not_the_violation(
    tmp_path: Path, reader: PlateReader
) -> None:
    site = _site(tmp_path, plates=True)
    ring = ring_with(video_frames([(11.0, plate_image("沪C8GK31"))], 13.0))
    finder = PlateFinder(site.cameras, {"lane1_front": ring}, reader, "cn")
    blocked = tmp_path / "evidence"
    blocked.write_text("a file where the evidence folder should be")
    records: list[dict[str, Any]] = []
    pipeline = _pipeline(tmp_path, site, finder, blocked)
    pipeline.on_record = lambda r: records.append(_payload(r.jws))
    pipeline.process(vehicle(10.0, load_kg=20_000))
    assert [r["type"] for r in records] == ["vehicle", "violation"]
    assert records[1]["evidence"] == [] and records[1]["plate"]["text"] == "沪C8GK31"
    assert pipeline.counts.evidence_failed == 1


def test_site_without_plates_records_plate_null_and_no_evidence(tmp_path: Path) -> None:
    site = _site(tmp_path, plates=False)
    assert site.plates is None
    records: list[dict[str, Any]] = []
    pipeline = _pipeline(tmp_path, site, None, tmp_path / "evidence")
    pipeline.on_record = lambda r: records.append(_payload(r.jws))
    pipeline.process(vehicle(10.0, load_kg=20_000))
    assert [r["plate"] for r in records] == [None, None]
    assert records[1]["evidence"] == []
    assert not (tmp_path / "evidence").exists()


def test_plates_section_errors_name_file_line_and_field(tmp_path: Path) -> None:
    from edge.errors import ConfigError

    text = REFERENCE_SITE.read_text() + "plates:\n  region: cn\n  min_confidnce: 0.5\n"
    path = tmp_path / "site.yaml"
    path.write_text(text)
    line = text.splitlines().index("  min_confidnce: 0.5") + 1
    with pytest.raises(ConfigError, match=rf"{path}:{line}: plates\.min_confidnce"):
        load_site(path)
    path.write_text(REFERENCE_SITE.read_text() + "plates:\n  region: xx\n")
    with pytest.raises(ConfigError, match=r"plates\.region: .*unknown region 'xx'"):
        load_site(path)


# --- edge run: a dead camera does not stall weighing -------------------------------------------


@pytest.mark.slow
def test_live_service_with_a_dead_camera_records_every_vehicle_with_plate_null(
    tmp_path: Path,
) -> None:
    from edge.service import Service
    from edge.sim import SimOptions, generate
    from tests.test_service import Pty, _feed_realtime, _records
    from tests.test_service import _site as service_site

    scn = tmp_path / "scn"
    generate(scn, SimOptions(vehicles=2, seed=5, lanes=1, mean_headway_s=2.0, line_noise=0.0))
    truth = [json.loads(x) for x in (scn / "truth.jsonl").read_text().splitlines()]
    link = tmp_path / "usb-lcs1-board-if00"
    pty = Pty(link)
    base = service_site(tmp_path, link)
    cams = {"lane1_front": CAMERA.model_copy(update={"url": str(tmp_path / "gone.mp4")})}
    site = base.model_copy(update={"plates": PlatesConfig(), "cameras": cams})
    service = Service(site)
    stop = threading.Event()
    runner = threading.Thread(target=service.run, args=(stop,), kwargs={"poll_s": 0.2})
    runner.start()
    try:
        _feed_realtime(lambda: pty, scn / "wim0.scap")
        health = service.health()
    finally:
        stop.set()
        runner.join(timeout=30)
    assert not runner.is_alive()
    assert health["cameras"]["lane1_front"]["state"] == "down"
    assert health["plates"]["no_frames"] == len(truth)
    assert health["plates"]["wait_timeouts"] == 0  # a camera that is down is not waited for
    vehicles = [r for r in _records(tmp_path / "state" / "outbox.sqlite") if r["type"] == "vehicle"]
    assert len(vehicles) == len(truth)
    assert all(v["plate"] is None for v in vehicles)
    assert all(v["software"]["models"] for v in vehicles)  # the reader was loaded all the same
