"""Camera videos of simulated traffic: each vehicle of a camera's lane drives towards the camera
carrying its plate, and is in the middle of the picture when it reaches the trigger line.

One frame at a time goes to the encoder, so memory does not grow with the scenario's length:
a vehicle's look (plate picture, livery) exists only while it is in view.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from edge.config.site import Camera
from edge.errors import ConfigError
from edge.sim.camera_view import (
    RANGE_M,
    Color,
    Geometry,
    Image,
    Points,
    face,
    fill,
    paste,
    road,
    shade,
    slab,
)
from edge.sim.plate_text import PlateSpec
from edge.sim.plates import CJK_FONTS, find_font, render_plate
from edge.sim.traffic import SimVehicle

log = logging.getLogger(__name__)

FAR_M = 40.0  # beyond this a vehicle is above the top of the picture
NOISE_SIGMA = 3.0  # sensor noise, grey levels
NOISE_FRAMES = 3  # precomputed noise fields, picked at random per frame
GLASS: Color = (48, 42, 38)
DARK: Color = (32, 32, 34)
LAMP: Color = (225, 230, 232)
SHADOW: Color = (58, 58, 60)
BUMPER: Color = (70, 70, 72)
CAR_COLORS: tuple[Color, ...] = (
    (235, 235, 232),
    (188, 190, 186),
    (45, 45, 48),
    (40, 40, 170),
    (140, 80, 30),
    (115, 118, 120),
)
CAB_COLORS: tuple[Color, ...] = ((40, 40, 175), (150, 90, 30), (40, 170, 225), (225, 225, 222))
BOX_COLORS: tuple[Color, ...] = ((215, 215, 212), (150, 150, 150), (140, 85, 35), (60, 110, 40))
# Painted on the fronts of trucks' boxes: Chinese text that is no plate, so never a plate read.
COMPANIES = ("顺达物流", "恒通运输", "安达货运", "宏远物流", "鑫源运输", "长江快运有限公司")
GRILLE_TOP, BAND_TOP = 0.52, 0.6  # of a cab's front height: the name band between them
P_COMPANY = 0.4  # trucks other than the lane's first (which always has one) with a painted name

Progress = Callable[[float], None]


@dataclass(frozen=True)
class Shape:
    """Dimensions of a body family in metres (vehicle frame)."""

    width: float
    front_top: float  # top of the front face (bonnet line or cab roof)
    box_top: float  # top of the load box behind the cab (0: none)
    plate_y: float  # plate centre height
    lamp_y: float  # bottom of the head lamps
    overhangs: float  # front + rear overhang, added to the wheelbase for the length


SHAPES = {
    "car": Shape(1.8, 0.8, 0.0, 0.45, 0.58, 1.8),
    "light-truck": Shape(2.0, 2.2, 3.0, 0.5, 0.78, 2.4),
    "bus": Shape(2.5, 3.1, 0.0, 0.5, 0.78, 4.0),
    "truck": Shape(2.5, 2.9, 3.9, 0.55, 0.8, 2.6),
}


def _family(veh: SimVehicle) -> str:
    name = veh.body.kind.name
    return name if name in SHAPES else "truck"


def covered(plate: Image, rng: np.random.Generator) -> Image:
    """A plate under a cloth: the rim shows, the characters do not."""
    out = plate.copy()
    h, w = out.shape[:2]
    cloth = np.array(rng.uniform(40, 90, 3), np.float32)
    folds = rng.normal(0.0, 1.0, (4, 8)).astype(np.float32)
    texture = cv2.resize(folds, (w - 16, h - 16), interpolation=cv2.INTER_CUBIC)[..., None] * 10
    out[8 : h - 8, 8 : w - 8] = np.clip(cloth + texture, 0, 255).astype(np.uint8)
    return out


def painted_name(text: str, color: Color, size: tuple[int, int]) -> Image:
    """A box front (size w, h in px) in `color` with a company name painted across it."""
    w, h = size
    font_path, index = find_font(CJK_FONTS)
    font = ImageFont.truetype(font_path, int(h * 0.7), index=index)
    canvas = PILImage.new("RGB", (w, h), tuple(int(c) for c in color))
    draw = ImageDraw.Draw(canvas)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    scale = min(1.0, 0.9 * w / max(1, right - left))
    if scale < 1.0:
        font = ImageFont.truetype(font_path, max(8, int(h * 0.7 * scale)), index=index)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    xy = ((w - (right - left)) // 2 - left, (h - (bottom - top)) // 2 - top)
    draw.text(xy, text, fill=(30, 30, 160), font=font)  # BGR canvas: red letters
    return np.asarray(canvas, dtype=np.uint8).copy()


def plate_corners(w_mm: int, h_mm: int, y_m: float, tilt_m: float) -> Points:
    """TL, TR, BR, BL of a plate w_mm x h_mm centred y_m high on the front, ends tilt_m apart."""
    x, h = w_mm / 2000, h_mm / 2000
    return np.array(
        [
            [-x, y_m + h + tilt_m, -0.01],
            [x, y_m + h - tilt_m, -0.01],
            [x, y_m - h - tilt_m, -0.01],
            [-x, y_m - h + tilt_m, -0.01],
        ]
    )


class Look:
    """How one vehicle appears: body colours, brightness, lateral position, plate and livery."""

    def __init__(
        self, veh: SimVehicle, spec: PlateSpec, company: str | None, rng: np.random.Generator
    ) -> None:
        self.family = _family(veh)
        self.shape = SHAPES[self.family]
        self.length = sum(veh.body.spacings_m) + self.shape.overhangs
        self.gain = float(rng.uniform(0.75, 1.15))  # light on this vehicle
        self.dx = float(rng.uniform(-0.25, 0.25))
        palette = CAR_COLORS if self.family == "car" else CAB_COLORS
        self.body = shade(palette[int(rng.integers(len(palette)))], self.gain)
        self.box = shade(BOX_COLORS[int(rng.integers(len(BOX_COLORS)))], self.gain)
        picture = render_plate(spec.text, spec.color, spec.two_row)
        if spec.covered:
            picture = covered(picture, rng)
        self.plate = np.clip(picture.astype(np.float32) * self.gain, 0, 255).astype(np.uint8)
        tilt = float(rng.uniform(-0.006, 0.006))  # plates are never mounted quite level
        self.plate_quad = plate_corners(
            picture.shape[1], picture.shape[0], self.shape.plate_y, tilt
        )
        self.name: Image | None = None  # on the box front, above the cab
        self.band: Image | None = None  # on the cab front, between grille and windscreen
        if company is not None and self.shape.box_top > 0:
            s = self.shape
            size = (500, round(100 * (s.box_top - s.front_top)))
            self.name = painted_name(company, shade(self.box, 0.85), size)
            band_h = s.front_top * (BAND_TOP - GRILLE_TOP)
            size = (round(s.width * 0.8 * 200), round(band_h * 200))
            self.band = painted_name(company, shade(self.body, 0.85), size)

    def draw(self, image: Image, geo: Geometry, z_front: float) -> None:
        """Draw the vehicle with its front face `z_front` from the camera's foot."""
        c = _Canvas(image, geo, np.array([self.dx, 0.0, z_front]))
        s, half = self.shape, self.shape.width / 2
        c.put(slab(-half - 0.1, half + 0.1, (0.0, -0.15), (0.0, self.length + 0.3)), SHADOW)
        if self.family == "car":
            self._car(c, half)
        else:
            self._cab(c, half)
        lamp = shade(LAMP, self.gain)
        c.put(face(-half * 0.92, -half * 0.58, s.lamp_y, s.lamp_y + 0.13, -0.005), lamp)
        c.put(face(half * 0.58, half * 0.92, s.lamp_y, s.lamp_y + 0.13, -0.005), lamp)
        c.paste(self.plate_quad, self.plate)

    def _car(self, c: _Canvas, half: float) -> None:
        c.put(slab(-0.72, 0.72, (1.45, 1.9), (1.45, self.length - 1.0)), shade(self.body, 1.05))
        c.put(slab(-0.75, 0.75, (0.95, 1.1), (1.45, 1.9)), shade(GLASS, self.gain))  # windscreen
        c.put(slab(-half + 0.02, half - 0.02, (0.8, 0.02), (0.95, 1.1)), self.body)  # bonnet
        c.put(face(-half, half, 0.22, 0.8, 0.0), shade(self.body, 0.8))  # front
        c.put(face(-0.42, 0.42, 0.5, 0.68, -0.004), shade(DARK, self.gain))  # grille
        c.put(face(-0.6, 0.6, 0.24, 0.34, -0.004), shade(DARK, self.gain))  # air intake

    def _cab(self, c: _Canvas, half: float) -> None:
        s, cab_len, top = self.shape, 2.2, self.shape.front_top
        if s.box_top > 0:
            roof = slab(-half, half, (s.box_top, cab_len + 0.1), (s.box_top, self.length))
            c.put(roof, shade(self.box, 1.05))
            front = face(-half, half, s.front_top, s.box_top, cab_len + 0.1)
            # paste wants the corners TL, TR, BR, BL; face() gives BL, BR, TR, TL
            if self.name is None or not c.paste(front[[3, 2, 1, 0]], self.name):
                c.put(front, shade(self.box, 0.85))
        roof_end = cab_len if s.box_top > 0 else self.length
        c.put(slab(-half + 0.05, half - 0.05, (top, 0.1), (top, roof_end)), self.body)
        c.put(face(-half, half, 0.35, top, 0.0), shade(self.body, 0.85))  # cab front
        glass, dark = shade(GLASS, self.gain), shade(DARK, self.gain)
        c.put(face(-half + 0.12, half - 0.12, top * BAND_TOP, top * 0.92, -0.004), glass)
        c.put(face(-half * 0.65, half * 0.65, top * 0.3, top * GRILLE_TOP, -0.004), dark)
        band = face(-half * 0.8, half * 0.8, top * GRILLE_TOP, top * BAND_TOP, -0.004)
        if self.band is not None:
            c.paste(band[[3, 2, 1, 0]], self.band)
        c.put(face(-half, half, 0.35, 0.75, -0.003), shade(BUMPER, self.gain))


@dataclass(frozen=True)
class _Canvas:
    """A frame to draw one vehicle on: its polygons are shifted to where it is."""

    image: Image
    geo: Geometry
    offset: npt.NDArray[np.float64]

    def put(self, poly: Points, color: Color) -> None:
        fill(self.image, self.geo, poly + self.offset, color)

    def paste(self, corners: Points, picture: Image) -> bool:
        alpha = np.full(picture.shape[:2], 255, np.uint8)
        return paste(self.image, self.geo, corners + self.offset, picture, alpha)


def distance_m(veh: SimVehicle, dt_s: float) -> float:
    """How far the first axle is past row A dt_s after t_ns (before it: at its entry speed)."""
    v, a = veh.speed_mps, veh.accel_mps2
    if dt_s <= 0 or a == 0:
        return v * dt_s
    if a < 0:
        dt_s = min(dt_s, v / -a)  # never rolls backwards
    return v * dt_s + 0.5 * a * dt_s * dt_s


@dataclass(frozen=True)
class Lane:
    """The vehicles one camera sees, sorted by when they come into view."""

    vehicles: tuple[tuple[int, SimVehicle, PlateSpec], ...]  # (index in the scenario, ...)
    enter_s: tuple[float, ...]  # front face comes into view
    leave_s: tuple[float, ...]  # rear has left the picture
    longest_s: float  # longest time a vehicle is in view

    def in_view(self, t_s: float) -> range:
        """Positions of the vehicles that may be in view at t_s (check leave_s)."""
        lo = bisect.bisect_left(self.enter_s, t_s - self.longest_s)
        return range(lo, bisect.bisect_right(self.enter_s, t_s))


def _lane(cam: Camera, vehicles: Sequence[SimVehicle], specs: Mapping[int, PlateSpec]) -> Lane:
    """Vehicles of the camera's lane and when their front enters / their rear leaves the view."""
    spans = []
    for i, veh in enumerate(vehicles):
        if veh.lane != cam.lane or i not in specs:
            continue
        # the front face is RANGE_M from the camera's foot when the first axle is at the trigger
        start = cam.trigger_distance_m + RANGE_M - FAR_M
        end = cam.trigger_distance_m + RANGE_M + sum(veh.body.spacings_m) + 6.0
        enter = veh.t_s + (start / veh.speed_mps if start < 0 else veh.time_to_travel(start))
        spans.append((enter, veh.t_s + veh.time_to_travel(end), i, veh))
    spans.sort(key=lambda x: x[0])
    return Lane(
        vehicles=tuple((i, veh, specs[i]) for _, _, i, veh in spans),
        enter_s=tuple(x[0] for x in spans),
        leave_s=tuple(x[1] for x in spans),
        longest_s=max((b - a for a, b, _, _ in spans), default=0.0),
    )


def _companies(lane: Lane, rng: np.random.Generator) -> dict[int, str]:
    """Painted names: on the lane's first truck with a box, and on some other trucks."""
    out: dict[int, str] = {}
    for idx, veh, _ in lane.vehicles:
        if SHAPES[_family(veh)].box_top <= 0:
            continue
        if not out or rng.random() < P_COMPANY:
            out[idx] = COMPANIES[int(rng.integers(len(COMPANIES)))]
    return out


class _Sensor:
    """What the camera adds to the light: slow exposure drift, optics blur and sensor noise."""

    def __init__(self, geo: Geometry, rng: np.random.Generator) -> None:
        self.rng = rng
        shape = (geo.height, geo.width, 3)
        self.noise: list[tuple[Image, Image]] = []
        for _ in range(NOISE_FRAMES):
            n = rng.normal(0.0, NOISE_SIGMA, shape).astype(np.float32)
            pos = np.clip(n, 0, 255).astype(np.uint8)
            neg = np.clip(-n, 0, 255).astype(np.uint8)
            self.noise.append((pos, neg))
        self.phase = float(rng.uniform(0, 2 * math.pi))

    def expose(self, frame: Image, t_s: float) -> Image:
        """The frame as the sensor delivers it."""
        gain = 1.0 + 0.05 * math.sin(2 * math.pi * t_s / 23.0 + self.phase)
        lit = cv2.convertScaleAbs(frame, alpha=gain)
        soft = cv2.GaussianBlur(lit, (3, 3), 0.7)
        pos, neg = self.noise[int(self.rng.integers(NOISE_FRAMES))]
        return np.asarray(cv2.subtract(cv2.add(soft, pos), neg), np.uint8)


@dataclass(frozen=True)
class VideoWritten:
    """One camera's files in the scenario folder."""

    camera: str
    file: str
    frames_file: str
    frames: int
    painted: tuple[tuple[int, str], ...]  # (vehicle t_ns, company name) of trucks with a name


def write_camera_video(
    folder: Path,
    name: str,
    cam: Camera,
    vehicles: Sequence[SimVehicle],
    specs: Mapping[int, PlateSpec],
    *,
    size: tuple[int, int],
    fps: float,
    duration_s: float,
    seed: int,
    progress: Progress | None = None,
) -> VideoWritten:
    """Write `<name>.mp4` (mp4v) and `<name>.frames.csv` for camera `cam` over `duration_s`.

    `specs` maps a vehicle's index in `vehicles` to its plate; vehicles without one are not
    drawn. Deterministic for a given seed.
    """
    scene = _Scene(Geometry(*size), cam, _lane(cam, vehicles, specs), seed)
    video, csv = folder / f"{name}.mp4", folder / f"{name}.frames.csv"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise ConfigError(f"{video}: OpenCV cannot write an mp4v video here")
    n = max(1, math.ceil(duration_s * fps))
    try:
        with csv.open("w", encoding="ascii") as times:
            times.write("frame,t_ns\n")
            for k in range(n):
                t_ns = round(k * 1e9 / fps)
                writer.write(scene.frame(t_ns / 1e9))
                times.write(f"{k},{t_ns}\n")
                if progress is not None and (k % 50 == 0 or k == n - 1):
                    progress((k + 1) / n)
    finally:
        writer.release()
    log.info("simulate: camera=%s frames=%d vehicles=%d", name, n, len(scene.lane.vehicles))
    painted = tuple(
        (veh.t_ns, scene.companies[idx])
        for idx, veh, _ in scene.lane.vehicles
        if idx in scene.companies
    )
    return VideoWritten(name, video.name, csv.name, n, painted)


class _Scene:
    """One camera's view of its lane over time; `frame(t_s)` draws the picture at t_s."""

    def __init__(self, geo: Geometry, cam: Camera, lane: Lane, seed: int) -> None:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 7, cam.lane]))
        self.geo, self.cam, self.lane, self.seed = geo, cam, lane, seed
        self.companies = _companies(lane, rng)
        self.background = road(geo, rng)
        self.sensor = _Sensor(geo, rng)
        self.looks: dict[int, Look] = {}

    def frame(self, t_s: float) -> Image:
        """The picture at t_s: the road and the vehicles in view, far ones first."""
        frame = self.background.copy()
        in_view: list[tuple[float, int]] = []
        for j in self.lane.in_view(t_s):
            idx, veh, spec = self.lane.vehicles[j]
            if t_s <= self.lane.leave_s[j]:
                self._look(idx, veh, spec)
                in_view.append((self._z_front(veh, t_s), idx))
        for idx in set(self.looks) - {idx for _, idx in in_view}:
            del self.looks[idx]  # out of view for good: no memory held for it
        for z_front, idx in sorted(in_view, reverse=True):
            self.looks[idx].draw(frame, self.geo, z_front)
        return self.sensor.expose(frame, t_s)

    def _z_front(self, veh: SimVehicle, t_s: float) -> float:
        travelled = distance_m(veh, t_s - veh.t_s) - self.cam.trigger_distance_m
        return RANGE_M - travelled

    def _look(self, idx: int, veh: SimVehicle, spec: PlateSpec) -> Look:
        look = self.looks.get(idx)
        if look is None:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, 8, idx]))
            look = self.looks[idx] = Look(veh, spec, self.companies.get(idx), rng)
        return look
