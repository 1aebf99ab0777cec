"""`edge record --config SITE.yaml --out DIR [--seconds N]`: record live serial and camera input.

Writes a scenario folder (specs/bench.md) that `edge replay` runs: one SCAP1 capture per serial
source with host receive times, one video plus frames.csv per camera with capture times on the
same time line (so replay lines the video up with the scale), scenario.yaml and a copy of the
site file. The folder is valid from the first second, so a recorder killed hard still leaves a
replayable scenario (SCAP1 readers drop a truncated last record; a camera is listed in
scenario.yaml once its video has frames, see drivers/camera/recorder.py).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from drivers.camera import LiveCameraSource, VideoRecorder
from drivers.scap import ScapWriter
from drivers.serial import SerialReader
from edge import __version__
from edge.bench.scenario import ScenarioCamera, ScenarioFile, write_scenario_yaml
from edge.config import load_site
from edge.config.site import SiteConfig
from edge.errors import CaptureError, ConfigError, SourceError
from edge.fsutil import fsync_dir

log = logging.getLogger(__name__)

# A camera stuck in a network open gives up after its own 5 s timeout; wait a little longer.
CAMERA_STOP_S = 6.0

_HELP = """Record every serial source and camera of the site into a scenario folder:
DIR/<name>.scap (SCAP1, host receive times in ns since t0), DIR/<camera>.mkv with
DIR/<camera>.frames.csv (capture time of every frame, same time line), DIR/scenario.yaml and
DIR/site.yaml. Stops after --seconds, or on Ctrl-C / SIGTERM, with every file flushed and
fsynced. A serial port or camera that goes away while recording is reopened and recording
continues (the frame times show the gap). A camera that never delivers a frame is left out of
scenario.yaml."""


def add_parser(sub: Any) -> None:
    """Register the sub-command."""
    p = sub.add_parser(
        "record",
        help="record live serial and camera input into a scenario folder",
        description=_HELP,
    )
    p.add_argument("--config", type=Path, required=True, metavar="SITE.yaml", help="site file")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="new or empty folder")
    p.add_argument("--seconds", type=float, default=None, metavar="N", help="stop after N seconds")
    p.set_defaults(func=run)


def _prepare_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CaptureError(f"{out}: output folder exists and is not empty")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CaptureError(f"{out}: cannot create output folder: {exc}") from None


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM end the recording cleanly instead of interrupting a write."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class _Recording:
    """The writers and readers of one recording."""

    def __init__(self, cfg: SiteConfig, out: Path, clock: Callable[[], int], t0: int) -> None:
        self.out = out
        self.t0 = t0
        self.writers: dict[str, ScapWriter] = {}
        self.readers: dict[str, SerialReader] = {}
        for name, src in cfg.serial.items():
            writer = ScapWriter(
                out / f"{name}.scap",
                port=src.url,
                baud=src.baud,
                protocol=src.protocol,
                t0_unix_ns=t0,
                source=name,
                recorder=f"roadside-edge {__version__}",
            )
            self.writers[name] = writer
            self.readers[name] = SerialReader(
                name,
                src.url,
                src.baud,
                writer.write,
                clock=clock,
                protocol=src.protocol,
                reopen_max_s=src.reopen_max_s,
            )
        self.recorders = {
            name: VideoRecorder(name, out, cam.fps) for name, cam in cfg.cameras.items()
        }
        # The serial capture's clock, so frame times and byte times share one time line.
        self.cameras = {
            name: LiveCameraSource(cam.url, name, self.recorders[name].write, clock, fps=cam.fps)
            for name, cam in cfg.cameras.items()
        }
        self._listed: frozenset[str] | None = None

    def start(self) -> None:
        """Open every port (SourceError if one cannot be opened) and start reading.

        Cameras start after the ports: they connect in the background and are retried with
        backoff, so a camera that is down does not stop the serial recording.
        """
        for reader in self.readers.values():
            reader.start(require_open=True)
        for source in self.cameras.values():
            source.start()

    def close(self) -> None:
        """Stop the readers and cameras, then flush, fsync and close the captures and videos."""
        for reader in self.readers.values():
            reader.stop()
        for name, source in self.cameras.items():
            if not source.stop(timeout_s=CAMERA_STOP_S):
                # The recorder is closed below; frames the stuck thread still delivers are dropped.
                log.warning("camera=%s capture thread did not stop", name)
        for recorder in self.recorders.values():
            recorder.close()
        for writer in self.writers.values():
            writer.close()

    def write_manifest(self) -> None:
        """(Re)write scenario.yaml when the set of cameras with recorded frames changed."""
        listed = frozenset(n for n, r in self.recorders.items() if r.started)
        if listed == self._listed:
            return
        cameras = {
            name: ScenarioCamera(file=r.video_path.name, frames=r.csv_path.name)
            for name, r in self.recorders.items()
            if name in listed
        }
        write_scenario_yaml(
            self.out,
            ScenarioFile(
                site="site.yaml",
                t0_unix_ns=self.t0,
                serial={name: w.path.name for name, w in self.writers.items()},
                cameras=cameras,
            ),
        )
        self._listed = listed

    def status(self) -> str:
        """One line: state and bytes per source, state, frames and errors per camera."""
        parts = []
        for name, reader in self.readers.items():
            st = reader.stats()
            parts.append(f"{name} {st.state.value} {st.bytes / 1e6:.2f} MB")
        for name, source in self.cameras.items():
            cs, rs = source.stats(), self.recorders[name].stats()
            part = f"{name} {cs.state} {rs.frames} frames"
            if cs.decode_errors or rs.write_errors:
                part += f" ({cs.decode_errors} decode, {rs.write_errors} write errors)"
            parts.append(part)
        return ", ".join(parts)

    def summary_lines(self) -> list[str]:
        """What was recorded, one line per source and camera, for the end of the run."""
        lines = []
        for name, reader in self.readers.items():
            st = reader.stats()
            lines.append(
                f"{name}: {st.bytes} bytes in {st.reads} reads, down {st.downs} times "
                f"({st.downtime_ns / 1e9:.1f} s) -> {self.writers[name].path}"
            )
        for name, source in self.cameras.items():
            cs, rs = source.stats(), self.recorders[name].stats()
            if not rs.frames:
                lines.append(
                    f"{name}: no frames recorded (camera {cs.state}, {cs.open_failures} failed "
                    f"opens, {rs.write_errors} write errors); not in scenario.yaml"
                )
                continue
            w, h = rs.size or (0, 0)
            lines.append(
                f"{name}: {rs.frames} frames {w}x{h}, {rs.resized} resized, "
                f"{cs.decode_errors} decode errors, {rs.write_errors} write errors, "
                f"{cs.reconnects} reconnects -> {self.recorders[name].video_path}"
            )
        return lines


def run(args: argparse.Namespace) -> int:
    """Record until --seconds pass or a signal arrives; print a summary line per source."""
    cfg = load_site(args.config)
    if not cfg.serial:
        raise ConfigError(f"{args.config}: serial: the site has no serial source to record")
    out: Path = args.out
    _prepare_out(out)
    t0 = time.time_ns()
    mono0 = time.monotonic_ns()
    rec = _Recording(cfg, out, lambda: time.monotonic_ns() - mono0, t0)
    stop = threading.Event()
    try:
        rec.start()
    except SourceError:
        # Nothing was recorded: leave no half-made scenario behind.
        rec.close()
        for writer in rec.writers.values():
            writer.path.unlink(missing_ok=True)
        raise
    try:
        with _stop_on_signals(stop):
            shutil.copyfile(args.config, out / "site.yaml")
            rec.write_manifest()
            print(
                f"edge record: recording {', '.join([*cfg.serial, *cfg.cameras])} into {out} "
                "(Ctrl-C to stop)",
                file=sys.stderr,
                flush=True,
            )
            _wait(rec, stop, args.seconds)
    finally:
        rec.close()
        rec.write_manifest()
        fsync_dir(out)
    for line in rec.summary_lines():
        print(line)
    return 0


def _wait(rec: _Recording, stop: threading.Event, seconds: float | None) -> None:
    """Block until the deadline or a stop signal, showing progress on a terminal."""
    start = time.monotonic()
    tty = sys.stderr.isatty()
    while not stop.is_set():
        elapsed = time.monotonic() - start
        if seconds is not None and elapsed >= seconds:
            break
        left = 1.0 if seconds is None else min(1.0, seconds - elapsed)
        stop.wait(left)
        rec.write_manifest()  # a camera whose first frames arrived joins scenario.yaml
        if tty:
            print(f"\r{time.monotonic() - start:7.0f} s  {rec.status()}  ", end="", file=sys.stderr)
    if tty:
        print(file=sys.stderr)
