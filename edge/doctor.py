"""`edge doctor`: check a unit on site, one line per check, for a technician on a ladder.

Each check returns a `Finding`; nothing here changes the unit's state (ports are opened,
read for a moment and closed; the broker gets one connection with a throwaway client id).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from drivers.camera.urls import open_capture, redact_url
from drivers.serial import open_port
from edge.clock import read_clock_state
from edge.config.site import SiteConfig
from edge.delivery.client import check_broker
from edge.errors import EdgeError
from edge.records.keys import key_path, load_signing_key
from edge.vision.frames import MB, ring_seconds
from edge.vision.lookup import zone_box
from edge.vision.plates import PlateReader, recognise
from edge.wim.protocols.lcs1_stream import Lcs1StreamParser
from edge.wim.protocols.wvr1 import Wvr1LineParser

Level = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Finding:
    """One check's outcome."""

    check: str
    level: Level
    detail: str


def check_serial(name: str, site: SiteConfig, listen_s: float) -> Finding:
    """Open the port exclusively, listen briefly, and say what arrived."""
    src = site.serial[name]
    try:
        port = open_port(src.url, src.baud, src.protocol, timeout_s=0.1)
    except EdgeError as exc:
        return Finding(f"serial {name}", "fail", str(exc))
    data = bytearray()
    deadline = time.monotonic() + listen_s
    try:
        while time.monotonic() < deadline:
            data += port.read(65536)
    except OSError as exc:
        return Finding(f"serial {name}", "fail", f"{src.url}: read failed: {exc}")
    finally:
        port.close()
    if not data:
        return Finding(
            f"serial {name}", "warn", f"{src.url}: open, but nothing received in {listen_s:g} s"
        )
    return Finding(f"serial {name}", *_describe_stream(src.protocol, bytes(data), listen_s))


def _describe_stream(protocol: str, data: bytes, seconds: float) -> tuple[Level, str]:
    if protocol == "lcs1":
        parser = Lcs1StreamParser()
        frames = parser.feed(data)
        st = parser.stats()
        if not frames:
            return "fail", f"{len(data)} bytes but no valid LCS1 frame (wrong protocol or baud?)"
        f = frames[-1]
        level: Level = "warn" if st.crc_errors or st.lost_frames else "ok"
        return level, (
            f"LCS1 {f.nch} channels at {f.rate} Hz, {len(frames) / seconds:.0f} frames/s, "
            f"crc_errors {st.crc_errors}, lost_frames {st.lost_frames}, overrange {st.overrange}"
        )
    if protocol == "wvr1":
        wvr = Wvr1LineParser()
        records = wvr.feed(data)
        ws = wvr.stats()
        return "ok", f"WVR1 {len(records)} vehicle line(s), checksum_errors {ws.checksum_errors}"
    return "ok", f"{len(data)} bytes received"


def check_camera(name: str, site: SiteConfig, timeout_s: float) -> Finding:
    """Open the camera and grab one frame."""
    cam = site.cameras[name]
    shown = redact_url(cam.url)
    cap = open_capture(cam.url, timeout_s)
    try:
        if not cap.isOpened():
            return Finding(f"camera {name}", "fail", f"{shown}: cannot open")
        ok, image = cap.read()
        if not ok or image is None:
            return Finding(f"camera {name}", "fail", f"{shown}: opened but no frame decoded")
        h, w = image.shape[:2]
        decoded = f"{shown}: {w}x{h} frame decoded"
        if cam.plate_zone is not None:  # for checking the zone against the picture
            x1, y1, x2, y2 = zone_box(cam.plate_zone, image.shape)
            decoded += f", plates read in x {x1}-{x2}, y {y1}-{y2} px (plate_zone)"
        held_s = ring_seconds(image.nbytes, cam.ring_max_bytes, min(cam.fps, cam.ring_fps))
        if held_s < cam.buffer_s:
            return Finding(
                f"camera {name}",
                "warn",
                f"{decoded}, but ring_max_mb {cam.ring_max_mb:g} holds only {held_s:.1f} s of "
                f"buffer_s {cam.buffer_s:g} at {image.nbytes / MB:.1f} MB a frame: raise "
                "ring_max_mb or lower ring_fps",
            )
        return Finding(f"camera {name}", "ok", decoded)
    finally:
        cap.release()


def check_models(site: SiteConfig) -> Finding:
    """Load the plate models as `edge run` does: files present, loadable, warm, and how fast."""
    if site.plates is None:
        return Finding("plate models", "ok", "no plates section: plates are not read")
    t0 = time.monotonic()
    try:
        reader = PlateReader(site.plates)
    except EdgeError as exc:
        return Finding("plate models", "fail", str(exc))
    seconds = time.monotonic() - t0
    models = reader.models()
    names = ", ".join(f"{name} sha256 {digest[:12]}" for name, digest in models.items())
    detail = f"region {site.plates.region}: {names}; loaded and warm in {seconds:.1f} s"
    wheel = [name for name in models if (recognise.rapidocr_wheel_models() / name).is_file()]
    if any(name.startswith("ch_PP-OCRv4_rec") for name in models):
        # outside region cn the wheel's newer recogniser reads after PP-OCRv4: not a fallback
        wheel = [name for name in wheel if "_rec_" not in name]
    if wheel:
        return Finding(
            "plate models",
            "warn",
            f"{detail}; the faster PP-OCRv4 mobile models are not installed in "
            f"{recognise.PPOCR_MOBILE}: run scripts/install-models.sh",
        )
    if any(name.startswith("ch_PP-OCRv4_") and ".folded." not in name for name in models):
        return Finding(
            "plate models",
            "warn",
            f"{detail}; the PP-OCR models are not rewritten (a third slower):"
            " run scripts/install-models.sh",
        )
    return Finding("plate models", "ok", detail)


def check_key(site: SiteConfig) -> Finding:
    """The signing key exists, is private, and loads."""
    try:
        key = load_signing_key(site.records)
    except EdgeError as exc:
        return Finding("signing key", "fail", str(exc))
    return Finding("signing key", "ok", f"{key_path(site.records)}: kid {key.kid}")


def check_mqtt(site: SiteConfig, timeout_s: float) -> Finding:
    """One connection to the broker with the unit's settings."""
    if site.mqtt is None:
        return Finding("broker", "warn", "no mqtt section: records are kept on disk only")
    try:
        return Finding("broker", "ok", check_broker(site.mqtt, timeout_s))
    except EdgeError as exc:
        return Finding("broker", "fail", str(exc))


def check_clock() -> Finding:
    """Records say whether the clock was disciplined; an unsynchronised clock weakens evidence."""
    state = read_clock_state()
    return Finding("clock", "ok" if state.synced else "warn", state.detail)


def check_disk(site: SiteConfig) -> Finding:
    """Free space on the state directory's filesystem against the configured floor."""
    path = site.records.data_dir
    probe = path if path.exists() else next((p for p in path.parents if p.exists()), path)
    try:
        usage = shutil.disk_usage(probe)
    except OSError as exc:
        return Finding("disk", "fail", f"{path}: {exc}")
    floor = site.outbox.min_free_bytes + site.outbox.max_bytes
    level: Level = "ok" if usage.free >= floor else "warn"
    return Finding(
        "disk",
        level,
        f"{probe}: {usage.free / 2**30:.1f} GiB free (outbox budget + floor "
        f"{floor / 2**30:.1f} GiB)",
    )


def run_checks(site: SiteConfig, *, listen_s: float = 1.0, timeout_s: float = 5.0) -> list[Finding]:
    """Every check, in the order a technician would fix things."""
    checks: list[Callable[[], Finding]] = [
        *(lambda n=n: check_serial(n, site, listen_s) for n in site.serial),
        *(lambda n=n: check_camera(n, site, timeout_s) for n in site.cameras),
        lambda: check_models(site),
        lambda: check_key(site),
        lambda: check_mqtt(site, timeout_s),
        check_clock,
        lambda: check_disk(site),
    ]
    return [check() for check in checks]
