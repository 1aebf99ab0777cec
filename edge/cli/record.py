"""`edge record --config SITE.yaml --out DIR [--seconds N]`: record live serial input.

Writes a scenario folder (specs/bench.md) that `edge replay` runs: one SCAP1 capture per serial
source with host receive times, scenario.yaml and a copy of the site file. The folder is valid
from the first second, so a recorder killed hard still leaves a replayable scenario (SCAP1
readers drop a truncated last record).
"""

from __future__ import annotations

import argparse
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

from drivers.scap import ScapWriter
from drivers.serial import SerialReader
from edge import __version__
from edge.bench.scenario import ScenarioFile, write_scenario_yaml
from edge.config import load_site
from edge.config.site import SiteConfig
from edge.errors import CaptureError, ConfigError, SourceError
from edge.fsutil import fsync_dir

_HELP = """Record every serial source of the site into a scenario folder: DIR/<name>.scap (SCAP1,
host receive times in ns since t0), DIR/scenario.yaml and DIR/site.yaml. Stops after --seconds,
or on Ctrl-C / SIGTERM, with every file flushed and fsynced. A source that goes away while
recording is reopened and recording continues. Cameras are not recorded yet: camera recording
comes in a later issue."""


def add_parser(sub: Any) -> None:
    """Register the sub-command."""
    p = sub.add_parser(
        "record",
        help="record live serial input into a scenario folder (cameras: later issue)",
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

    def start(self) -> None:
        """Open every port (SourceError if one cannot be opened) and start reading."""
        for reader in self.readers.values():
            reader.start(require_open=True)

    def close(self) -> None:
        """Stop the readers, then flush, fsync and close the captures."""
        for reader in self.readers.values():
            reader.stop()
        for writer in self.writers.values():
            writer.close()

    def status(self) -> str:
        """One line: state and bytes per source."""
        parts = []
        for name, reader in self.readers.items():
            st = reader.stats()
            parts.append(f"{name} {st.state.value} {st.bytes / 1e6:.2f} MB")
        return ", ".join(parts)


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
            write_scenario_yaml(
                out,
                ScenarioFile(
                    site="site.yaml",
                    t0_unix_ns=t0,
                    serial={name: f"{name}.scap" for name in cfg.serial},
                ),
            )
            if cfg.cameras:
                print("edge record: cameras are not recorded yet (later issue)", file=sys.stderr)
            print(
                f"edge record: recording {', '.join(cfg.serial)} into {out} (Ctrl-C to stop)",
                file=sys.stderr,
                flush=True,
            )
            _wait(rec, stop, args.seconds)
    finally:
        rec.close()
        fsync_dir(out)
    for name, reader in rec.readers.items():
        st = reader.stats()
        print(
            f"{name}: {st.bytes} bytes in {st.reads} reads, down {st.downs} times "
            f"({st.downtime_ns / 1e9:.1f} s) -> {out / (name + '.scap')}"
        )
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
        if tty:
            print(f"\r{time.monotonic() - start:7.0f} s  {rec.status()}  ", end="", file=sys.stderr)
    if tty:
        print(file=sys.stderr)
