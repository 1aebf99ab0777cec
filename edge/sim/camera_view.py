"""What a plate camera above a lane sees: a pinhole camera, a road, and vehicles as shaded boxes.

The camera hangs `HEIGHT_M` above the middle of its lane and looks down the road at oncoming
traffic, pitched so that a plate reaching the camera's trigger line (`trigger_distance_m` past
row A, `RANGE_M` in front of the camera's foot) sits in the middle of the picture and is
`PLATE_PX_AT_1280` pixels wide at 1280 px. As in a real plate camera the field of view is narrow:
a vehicle crosses the picture in a few metres, and its plate is readable for a few frames around
the trigger time, where PlateFinder looks.

World coordinates: x to the right, y up from the road, z along the road away from the camera's
foot. A vehicle's shape is given in its own frame (x from its centre line, y up, z backwards from
its front face) and shifted to its front face position at the frame's time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
Points = npt.NDArray[np.float64]
Color = tuple[float, float, float]

HEIGHT_M = 7.5  # camera above the road (a gantry)
RANGE_M = 13.0  # horizontal distance from the camera's foot to the trigger line
PLATE_Y_M = 0.5  # typical plate centre height: the optical axis passes through it
PLATE_W_M = 0.44
PLATE_PX_AT_1280 = 150.0  # plate width at the trigger in a 1280 px wide picture
NEAR_M = 0.5  # polygons are clipped to this depth in front of the lens


@dataclass(frozen=True)
class Geometry:
    """Pinhole camera: focal length from the plate size at the trigger, pitch to centre it."""

    width: int
    height: int

    @property
    def pitch(self) -> float:
        """Downward tilt of the optical axis, radians."""
        return math.atan2(HEIGHT_M - PLATE_Y_M, RANGE_M)

    @property
    def focal_px(self) -> float:
        """Focal length in pixels."""
        dist = math.hypot(HEIGHT_M - PLATE_Y_M, RANGE_M)
        return PLATE_PX_AT_1280 * self.width / 1280.0 * dist / PLATE_W_M

    def depth(self, pts: Points) -> npt.NDArray[np.float64]:
        """Distance of world points (n, 3) along the optical axis."""
        s, c = math.sin(self.pitch), math.cos(self.pitch)
        return -(pts[:, 1] - HEIGHT_M) * s + pts[:, 2] * c

    def project(self, pts: Points) -> Points:
        """Image coordinates (n, 2) of world points (n, 3) in front of the lens."""
        s, c = math.sin(self.pitch), math.cos(self.pitch)
        dy = pts[:, 1] - HEIGHT_M
        zc = np.maximum(-dy * s + pts[:, 2] * c, 1e-3)
        down = -(dy * c + pts[:, 2] * s)
        f = self.focal_px
        return np.stack([self.width / 2 + f * pts[:, 0] / zc, self.height / 2 + f * down / zc], 1)

    def clip(self, poly: Points) -> Points:
        """A planar polygon (n, 3) cut to the part at least NEAR_M in front of the lens."""
        d = self.depth(poly) - NEAR_M
        if np.all(d >= 0):
            return poly
        out: list[Points] = []
        for i in range(len(poly)):
            a, b, da, db = poly[i], poly[(i + 1) % len(poly)], d[i], d[(i + 1) % len(poly)]
            if da >= 0:
                out.append(a)
            if (da >= 0) != (db >= 0):
                out.append(a + (b - a) * (da / (da - db)))
        return np.array(out) if out else np.zeros((0, 3))


def fill(image: Image, geo: Geometry, poly: Points, color: Color) -> None:
    """Draw a planar world polygon, clipped to the lens' near plane."""
    poly = geo.clip(poly)
    if len(poly) < 3:
        return
    pts = clip_to_box(geo.project(poly), geo.width, geo.height)
    if len(pts) < 3:
        return
    px = np.round(pts * 4).astype(np.int32)  # 2 bits of sub-pixel precision
    cv2.fillConvexPoly(image, px, color, lineType=cv2.LINE_AA, shift=2)


def clip_to_box(pts: Points, w: int, h: int) -> Points:
    """A convex image polygon cut to a margin around the picture.

    Near the lens projected corners reach 1e5 px and more, which overflow OpenCV's fixed-point
    polygon filler (it draws garbage bands across the frame); the margin keeps them small.
    """
    for axis, lo, hi in ((0, -w, 2 * w), (1, -h, 2 * h)):
        for bound, sign in ((lo, 1.0), (hi, -1.0)):
            d = (pts[:, axis] - bound) * sign  # >= 0 inside
            if np.all(d >= 0):
                continue
            out = []
            for i in range(len(pts)):
                j = (i + 1) % len(pts)
                if d[i] >= 0:
                    out.append(pts[i])
                if (d[i] >= 0) != (d[j] >= 0):
                    out.append(pts[i] + (pts[j] - pts[i]) * (d[i] / (d[i] - d[j])))
            if len(out) < 3:
                return np.zeros((0, 2))
            pts = np.array(out)
    return pts


def face(x0: float, x1: float, y0: float, y1: float, z: float) -> Points:
    """A vertical rectangle facing the camera (vehicle frame)."""
    return np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], dtype=np.float64)


def slab(x0: float, x1: float, near: tuple[float, float], far: tuple[float, float]) -> Points:
    """A rectangle spanning x0..x1 from (y, z) `near` to `far`: roofs, bonnets, windscreens."""
    (y0, z0), (y1, z1) = near, far
    return np.array([[x0, y0, z0], [x1, y0, z0], [x1, y1, z1], [x0, y1, z1]], dtype=np.float64)


def paste(image: Image, geo: Geometry, corners: Points, picture: Image, alpha: Image) -> bool:
    """Warp `picture` (with its 0..255 `alpha`) onto the world quad `corners` (TL, TR, BR, BL).

    The picture is first shrunk close to its size on screen (INTER_AREA, as a lens would
    average), then warped in a region of interest only. False when it is off screen or too
    close to the lens to be drawn.
    """
    if np.any(geo.depth(corners) < NEAR_M):
        return False
    dst = geo.project(corners)
    x0, y0 = np.floor(dst.min(0)).astype(int)
    x1, y1 = np.ceil(dst.max(0)).astype(int) + 1
    h, w = image.shape[:2]
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h or x1 - x0 < 3 or y1 - y0 < 2:
        return False
    target_w = max(4, round(float(np.linalg.norm(dst[1] - dst[0]))))
    if target_w < picture.shape[1]:
        target_h = max(2, round(picture.shape[0] * target_w / picture.shape[1]))
        size = (target_w, target_h)
        picture = np.asarray(cv2.resize(picture, size, interpolation=cv2.INTER_AREA), np.uint8)
        alpha = np.asarray(cv2.resize(alpha, size, interpolation=cv2.INTER_AREA), np.uint8)
    ph, pw = picture.shape[:2]
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    m = cv2.getPerspectiveTransform(src, (dst - (cx0, cy0)).astype(np.float32))
    size = (cx1 - cx0, cy1 - cy0)
    warped = cv2.warpPerspective(picture, m, size, flags=cv2.INTER_LINEAR)
    a = cv2.warpPerspective(alpha, m, size, flags=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    roi = image[cy0:cy1, cx0:cx1]
    a3 = a[..., None]
    roi[:] = (roi * (1.0 - a3) + warped * a3).astype(np.uint8)
    return True


def road(geo: Geometry, rng: np.random.Generator, lane_width_m: float = 3.75) -> Image:
    """The empty road: asphalt with a low-frequency texture, lane lines, wheel tracks."""
    h, w = geo.height, geo.width
    base = rng.normal(0.0, 1.0, (h // 16 + 2, w // 16 + 2)).astype(np.float32)
    texture = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC) * 6.0
    grain = rng.normal(0.0, 4.0, (h, w)).astype(np.float32)
    grey = np.clip(104.0 + texture + grain, 0, 255).astype(np.uint8)
    image = np.ascontiguousarray(np.stack([grey + 3, grey, grey - 2], axis=-1).clip(0, 255))
    image = image.astype(np.uint8)
    for x in (-0.9, 0.9):  # wheel tracks, polished darker by tyres
        fill(image, geo, slab(x - 0.35, x + 0.35, (0.0, 2.0), (0.0, 80.0)), (88, 86, 84))
    half = lane_width_m / 2
    for z in np.arange(2.0, 80.0, 15.0):  # dashed lane lines: 6 m painted, 9 m gap
        for x in (-half, half):
            fill(image, geo, slab(x - 0.08, x + 0.08, (0.0, z), (0.0, z + 6.0)), (205, 210, 210))
    return image


def shade(color: Sequence[float], factor: float) -> Color:
    """A colour darkened or brightened by `factor`, saturated at white."""
    return (
        min(255.0, color[0] * factor),
        min(255.0, color[1] * factor),
        min(255.0, color[2] * factor),
    )
