"""The plate of a weighed vehicle: frames of its lane's cameras at its trigger time, read, voted.

The scale says when the first axle crossed row A (`WeighedVehicle.t_ns`) and how fast the vehicle
went; a camera of that lane sees the plate best when the vehicle reaches the camera's trigger line
`trigger_distance_m` further on, at `t = t_ns + trigger_distance_m / speed`. `PlateFinder` takes
`plate_frames` frames spread over the camera's ring within `plate_window_s` of `t`, reads them
(closest to `t` first, stopping once enough frames agree; the window's other frames too where
none of them shows a plate), votes, and keeps the frame the voted plate was read on for
evidence. A vehicle whose plate cannot be read gets None, never a guess. Where a camera has a
`plate_zone` (the part of its picture where its lane shows plates), only that part is read: a
vehicle in the next lane is never taken for the weighed one.

Frames reach the rings from elsewhere: replay feeds them from the video on demand, the live
service waits for the camera thread. `frames_until(camera, t_ns)` is that hook.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import cv2
import numpy as np

from edge.config.site import Camera
from edge.errors import ModelError
from edge.fusion import EvidenceImage, PlateReading
from edge.vision.frames import NS_PER_S, Frame, FrameRing
from edge.vision.plates.types import PlateRead
from edge.vision.plates.vote import vote
from edge.wim.model import WeighedVehicle

log = logging.getLogger(__name__)

MIN_SPEED_MPS = 0.5  # a standing or misread speed would put the trigger minutes away
AGREE = 3  # frames reading the same text: enough, the rest of the window is not read
JPEG_QUALITY = 92
CROP_MARGIN = 0.15  # of the plate's height, around the box in the plate crop

# Make frames up to t_ns available in a camera's ring; False when they will not come.
FramesUntil = Callable[[str, int], bool]
Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels
Zone = tuple[float, float, float, float]  # x1, y1, x2, y2 as shares of the frame (Camera)


class FrameReader(Protocol):
    """Reads plates on one frame (edge.vision.plates.PlateReader)."""

    def read(self, image: np.ndarray, frame_side: int | None = None) -> list[PlateRead]:
        """Plates on a BGR image, most confident first (`frame_side`: the longest side of the
        frame the image is a part of, which sets the scale it is searched at)."""
        ...


@dataclass(frozen=True)
class PlateFound:
    """What the cameras gave for one vehicle: the plate (or None) and its evidence frame.

    `frame` is the unaltered frame the voted plate was read on (or, with no plate, the frame
    closest to the trigger time), `box` the plate's x1, y1, x2, y2 on it.
    """

    plate: PlateReading | None
    camera: str | None = None
    frame: Frame | None = None
    box: tuple[int, int, int, int] | None = None
    trigger_ns: int | None = None
    frames_read: int = 0

    def evidence_images(self) -> list[EvidenceImage]:
        """The full frame and the plate crop as JPEG (nothing drawn on either)."""
        if self.frame is None or self.camera is None:
            return []
        images = [EvidenceImage(f"{self.camera}-frame.jpg", _jpeg(self.frame.image), "image/jpeg")]
        crop = self._crop()
        if crop is not None:
            images.append(EvidenceImage(f"{self.camera}-plate.jpg", _jpeg(crop), "image/jpeg"))
        return images

    def _crop(self) -> np.ndarray | None:
        if self.frame is None or self.box is None:
            return None
        x1, y1, x2, y2 = self.box
        h, w = self.frame.image.shape[:2]
        m = round((y2 - y1) * CROP_MARGIN)
        crop = self.frame.image[max(0, y1 - m) : min(h, y2 + m), max(0, x1 - m) : min(w, x2 + m)]
        return crop if crop.size else None


def _jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError(f"cannot encode a {image.shape} image as JPEG")
    return bytes(buf.tobytes())


@dataclass
class LookupStats:
    """Counters for summary.json and health."""

    vehicles: int = 0  # vehicles on a lane with a camera
    read: int = 0
    unread: int = 0  # frames were there, no plate could be read
    no_frames: int = 0  # no frame of the window in any ring (camera down, late, or no video)
    frames_read: int = 0
    read_errors: int = 0
    by_camera: Counter[str] = field(default_factory=Counter)  # plates read per camera

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able counters."""
        return {
            "vehicles": self.vehicles,
            "read": self.read,
            "unread": self.unread,
            "no_frames": self.no_frames,
            "frames_read": self.frames_read,
            "read_errors": self.read_errors,
            "read_by_camera": dict(sorted(self.by_camera.items())),
        }


def trigger_ns(vehicle: WeighedVehicle, camera: Camera) -> int:
    """When the vehicle reaches the camera's trigger line, on the vehicle's time line."""
    speed = max(vehicle.speed_kmh / 3.6, MIN_SPEED_MPS)
    return vehicle.t_ns + round(camera.trigger_distance_m / speed * NS_PER_S)


def pick_frames(frames: Sequence[Frame], t_ns: int, count: int) -> list[Frame]:
    """At most `count` frames spread evenly over `frames` (time order), closest to t_ns first.

    Spread rather than the `count` nearest: neighbouring frames are nearly the same picture, and
    a plate hidden by glare or motion blur at `t` may be clear a few hundred ms earlier or later.
    """
    if len(frames) > count:
        idx = np.unique(np.round(np.linspace(0, len(frames) - 1, count)).astype(int))
        frames = [frames[i] for i in idx]
    return sorted(frames, key=lambda f: (abs(f.t_ns - t_ns), f.t_ns))


def zone_box(zone: Zone | None, shape: tuple[int, ...]) -> Box:
    """A camera's plate zone in pixels on a frame of this shape; the whole frame without one."""
    h, w = shape[:2]
    if zone is None:
        return 0, 0, w, h
    x1, y1, x2, y2 = zone
    return round(x1 * w), round(y1 * h), round(x2 * w), round(y2 * h)


def read_in_zone(reader: FrameReader, image: np.ndarray, zone: Zone | None) -> list[PlateRead]:
    """The plates in a camera's plate zone of a frame (all of it without one), boxes on the
    frame. The zone is searched at the whole frame's scale: it costs its share of the frame."""
    if zone is None:
        return reader.read(image)
    x1, y1, x2, y2 = zone_box(zone, image.shape)
    found = reader.read(image[y1:y2, x1:x2], max(image.shape[:2]))
    return [
        replace(r, box=(r.box[0] + x1, r.box[1] + y1, r.box[2] + x1, r.box[3] + y1)) for r in found
    ]


def whole_views(
    reads: list[tuple[str, Frame, PlateRead]], zones: Mapping[str, Zone | None] | None = None
) -> list[tuple[str, Frame, PlateRead]]:
    """The reads of plates their frame shows whole, where there are any; else all of them.

    A plate cut by the frame's edge (the vehicle entering or leaving the picture) has lost part
    of its characters, and a recogniser can be sure of a wrong reading of what is left: the
    plate model read a top-cut 沪T39289 as 浙J39289 at 0.93 and 0.95, and voted with one whole
    view it made 沪J39289, which no frame showed. A box touching the edge of what was read (the
    frame, or its camera's plate zone in `zones`) is a cut one: reads are clipped to it.
    """
    zones = zones or {}
    whole = [
        (name, frame, read)
        for name, frame, read in reads
        if not _cut(read, zone_box(zones.get(name), frame.image.shape))
    ]
    return whole or reads


def _cut(read: PlateRead, bounds: Box) -> bool:
    """Whether the read's box touches the edge of the part of the frame that was read."""
    x1, y1, x2, y2 = read.box
    return x1 <= bounds[0] or y1 <= bounds[1] or x2 >= bounds[2] or y2 >= bounds[3]


class PlateFinder:
    """Finds the plate of each weighed vehicle in its lane cameras' rings (see module doc)."""

    def __init__(
        self,
        cameras: Mapping[str, Camera],
        rings: Mapping[str, FrameRing],
        reader: FrameReader,
        region: str,
        frames_until: FramesUntil | None = None,
    ) -> None:
        """`cameras` by name (the site's), `rings` by the same names; `frames_until` is called
        before a ring is read (default: read what is there)."""
        self.cameras = dict(cameras)
        self.rings = dict(rings)
        self.reader = reader
        self.region = region
        self.frames_until = frames_until
        self.stats = LookupStats()
        self._lock = threading.Lock()  # stats are read by health from another thread
        self._by_lane: dict[int, list[str]] = {}
        for name in sorted(self.cameras):
            if name in self.rings:
                self._by_lane.setdefault(self.cameras[name].lane, []).append(name)

    def has_camera(self, lane: int) -> bool:
        """Whether a camera with a ring watches this lane."""
        return lane in self._by_lane

    def find(self, vehicle: WeighedVehicle) -> PlateFound | None:
        """The plate of `vehicle` (None inside when unreadable); None if no camera sees its lane."""
        names = self._by_lane.get(vehicle.lane)
        if not names:
            return None
        reads: list[tuple[str, Frame, PlateRead]] = []
        nearest: tuple[str, Frame, int] | None = None
        frames_read = 0
        for name in names:
            cam = self.cameras[name]
            t = trigger_ns(vehicle, cam)
            frames, rest = self._window(name, cam, t)
            if frames and nearest is None:
                nearest = (name, frames[0], t)
            before = len(reads)
            frames_read += self._read_frames(name, frames, reads)
            if len(reads) == before:
                # none of the spread frames showed a plate: at a low frame rate a fast vehicle's
                # plate is readable on two or three frames, which the spread can step over
                frames_read += self._read_frames(name, rest, reads)
        found = self._decide(reads, nearest, frames_read)
        self._count(found, nearest is not None)
        log.debug(
            "plate lane=%d t_ns=%d frames=%d plate=%s",
            vehicle.lane,
            vehicle.t_ns,
            frames_read,
            "read" if found.plate is not None else "none",  # never the text: DESIGN.md logging
        )
        return found

    def _window(self, name: str, cam: Camera, t: int) -> tuple[list[Frame], list[Frame]]:
        """The frames to read for trigger time t (`pick_frames`), and the window's other frames,
        closest first (after making them available)."""
        half = round(cam.plate_window_s * NS_PER_S)
        if self.frames_until is not None:
            self.frames_until(name, t + half)
        frames = self.rings[name].around(t, cam.plate_window_s, cam.plate_window_s)
        picked = pick_frames(frames, t, cam.plate_frames)
        chosen = {id(f) for f in picked}
        rest = sorted(
            (f for f in frames if id(f) not in chosen), key=lambda f: (abs(f.t_ns - t), f.t_ns)
        )
        return picked, rest

    def _read_frames(
        self, name: str, frames: list[Frame], reads: list[tuple[str, Frame, PlateRead]]
    ) -> int:
        """Read frames in order into `reads` (each frame's most confident plate in the camera's
        plate zone, its box on the frame) until AGREE."""
        texts: Counter[str] = Counter(r.text for _, _, r in reads)
        zone = self.cameras[name].plate_zone
        n = 0
        for frame in frames:
            if texts and texts.most_common(1)[0][1] >= AGREE:
                break
            n += 1
            try:
                found = read_in_zone(self.reader, frame.image, zone)
            except (ModelError, RuntimeError, cv2.error) as exc:
                # One bad frame (or a runtime hiccup) costs that frame, not the vehicle's record.
                with self._lock:
                    self.stats.read_errors += 1
                log.warning("camera=%s frame=%d plate read failed: %s", name, frame.index, exc)
                continue
            if found:
                # Several plates on one frame (the next vehicle, or a neighbour where the camera
                # has no plate_zone): the most confident one votes; mixing them would vote a
                # plate out of two vehicles' characters.
                reads.append((name, frame, found[0]))
                texts[found[0].text] += 1
        return n

    def _decide(
        self,
        reads: list[tuple[str, Frame, PlateRead]],
        nearest: tuple[str, Frame, int] | None,
        frames_read: int,
    ) -> PlateFound:
        reads = whole_views(reads, {name: cam.plate_zone for name, cam in self.cameras.items()})
        voted = vote([r for _, _, r in reads], self.region)
        trigger = nearest[2] if nearest else None
        if voted is None:
            name, frame = (nearest[0], nearest[1]) if nearest else (None, None)
            return PlateFound(None, name, frame, None, trigger, frames_read)
        agreeing = [x for x in reads if x[2].text == voted.text] or reads
        name, frame, best = max(agreeing, key=lambda x: x[2].confidence)
        plate = PlateReading(voted.text, voted.color, voted.confidence)
        return PlateFound(plate, name, frame, best.box, trigger, frames_read)

    def _count(self, found: PlateFound, had_frames: bool) -> None:
        with self._lock:
            s = self.stats
            s.vehicles += 1
            s.frames_read += found.frames_read
            if found.plate is not None:
                s.read += 1
                if found.camera is not None:
                    s.by_camera[found.camera] += 1
            elif had_frames:
                s.unread += 1
            else:
                s.no_frames += 1

    def stats_dict(self) -> dict[str, Any]:
        """A snapshot of the counters, JSON-able."""
        with self._lock:
            return self.stats.as_dict()


class LiveFrames:
    """`frames_until` for live cameras: wait (bounded) for the camera thread to catch up.

    Waits until a frame at or after `t_ns` is in the ring: as long as `t_ns` is still ahead of
    the clock, plus `plate_wait_s` for the camera's latency, never more than the ring's span. A
    camera that is not up is not waited for: weighing must not stall on a dead camera.
    """

    def __init__(
        self,
        cameras: Mapping[str, Camera],
        rings: Mapping[str, FrameRing],
        is_up: Callable[[str], bool],
        clock: Callable[[], int],
    ) -> None:
        self.cameras = dict(cameras)
        self.rings = dict(rings)
        self.is_up = is_up
        self.clock = clock
        self.timeouts = 0

    def __call__(self, camera: str, t_ns: int) -> bool:
        """Block until the ring of `camera` holds frames up to `t_ns`; False on timeout."""
        ring = self.rings[camera]
        cam = self.cameras[camera]
        latest = ring.latest()
        if latest is not None and latest.t_ns >= t_ns:
            return True
        if not self.is_up(camera):
            return False
        ahead_s = max(0.0, (t_ns - self.clock()) / NS_PER_S)
        timeout_s = min(ahead_s + cam.plate_wait_s, cam.buffer_s)
        if ring.wait_until(t_ns, timeout_s):
            return True
        self.timeouts += 1
        log.warning(
            "camera=%s no frame up to the trigger window after %.1f s; reading what is there",
            camera,
            timeout_s,
        )
        return False
