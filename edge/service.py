"""`edge run`: the live service. Serial readers -> decoders -> the pipeline -> outbox -> MQTT.

Threads: one reader per serial port (drivers.serial), one worker per source that decodes and
records, the publisher's threads, and the main loop that feeds the systemd watchdog only while
every worker is alive and making progress. A worker that dies of a bug is restarted within a
budget; past the budget the service exits so systemd restarts the whole process.

With a `plates:` section, one capture thread per camera fills that camera's frame ring, and the
workers hand weighed vehicles to one plate thread instead of recording them: it waits (bounded)
for the frames past each vehicle's trigger time, reads and votes the plate, and records the
vehicle. Decoding never waits for a camera; a vehicle the plate thread cannot take in time is
recorded at once with plate null, and so is one whose camera is down.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from drivers.camera.live import LiveCameraSource, open_camera
from drivers.serial import SerialReader, SourceState
from edge import __version__
from edge.clock import read_clock_state
from edge.config.site import Camera, SiteConfig
from edge.delivery.publisher import Publisher
from edge.errors import EdgeError
from edge.outbox.errors import OutboxFullError
from edge.outbox.store import Outbox
from edge.pipeline import VehiclePipeline
from edge.records.builder import ClockInfo, RecordWriter
from edge.records.keys import jwks, load_signing_key
from edge.sdnotify import Notifier, watchdog_interval_s
from edge.vision.frames import FrameRing
from edge.vision.lookup import LiveFrames, PlateFinder
from edge.vision.plates.config import PlatesConfig
from edge.vision.plates.reader import PlateReader
from edge.wim.decoder import SourceDecoder, make_decoder
from edge.wim.model import WeighedVehicle

log = logging.getLogger(__name__)

CHUNK_QUEUE = 4096  # port reads waiting for a worker (~4 s of LCS1 at 921600 baud)
RESTART_BUDGET = 5  # worker restarts per RESTART_WINDOW_S before the service gives up
RESTART_WINDOW_S = 3600.0
CLOCK_REFRESH_S = 60.0
MAINTAIN_S = 5.0  # outbox housekeeping: retention, disk-full recovery, WAL checkpoint
PLATE_QUEUE = 32  # vehicles waiting for their plate (~50 s of one lane at capacity)


class ServiceFailedError(EdgeError):
    """A stage kept dying past its restart budget."""


@dataclass
class _Worker:
    """One serial source: its reader, queue, decoder and the thread that drains the queue."""

    name: str
    decoder: SourceDecoder
    chunks: queue.Queue[tuple[int, bytes]] = field(default_factory=lambda: queue.Queue(CHUNK_QUEUE))
    reader: SerialReader | None = None
    thread: threading.Thread | None = None
    heartbeat: float = 0.0
    failures: list[float] = field(default_factory=list)
    reopened: bool = False


def camera_rings(cameras: Mapping[str, Camera]) -> dict[str, FrameRing]:
    """One frame ring per camera, bounded by its `buffer_s`, `ring_fps` and `ring_max_mb`."""
    return {
        name: FrameRing.for_camera(
            name, cam.buffer_s, cam.fps, max_bytes=cam.ring_max_bytes, keep_fps=cam.ring_fps
        )
        for name, cam in cameras.items()
    }


def start_camera(
    name: str, cam: Camera, ring: FrameRing, clock: Callable[[], int]
) -> LiveCameraSource:
    """The capture thread of one camera, pushing into its ring on the service's time line."""
    return open_camera(cam.url, name, ring.push, clock, fps=cam.fps)


def camera_health(
    rings: Mapping[str, FrameRing], sources: Mapping[str, LiveCameraSource]
) -> dict[str, Any]:
    """Per camera: its state, the capture counters and what its ring holds."""
    cameras: dict[str, Any] = {}
    for name, ring in rings.items():
        r = ring.stats()
        entry: dict[str, Any] = {
            "state": "starting",
            "ring_frames": r.size,
            "ring_bytes": r.bytes,
            "ring_skipped": r.skipped,
            "ring_evicted": r.evicted,
        }
        source = sources.get(name)
        if source is not None:
            st = source.stats()
            entry.update(
                state=st.state,
                frames=st.frames,
                dropped=st.dropped,
                decode_errors=st.decode_errors,
                reconnects=st.reconnects,
                open_failures=st.open_failures,
            )
        cameras[name] = entry
    return cameras


class _PlateStage:
    """The cameras, their frame rings, the plate reader and the queue of the plate thread."""

    def __init__(self, site: SiteConfig, plates: PlatesConfig, clock: Callable[[], int]) -> None:
        self.site = site
        self.clock = clock
        self.rings = camera_rings(site.cameras)
        self.sources: dict[str, LiveCameraSource] = {}
        self.reader = PlateReader(plates)  # ModelError (one line) if a model is missing
        self.live = LiveFrames(site.cameras, self.rings, self._is_up, clock)
        self.finder = PlateFinder(site.cameras, self.rings, self.reader, plates.region, self.live)
        self.queue: queue.Queue[WeighedVehicle] = queue.Queue(PLATE_QUEUE)
        self.thread: threading.Thread | None = None
        self.heartbeat = 0.0
        self.done = threading.Event()  # set at shutdown: finish the queue, then end
        self.overflow = 0  # vehicles recorded without their plate: the queue was full
        self.errors = 0  # lookups that failed on a bug (vehicle recorded with plate null)

    def _is_up(self, camera: str) -> bool:
        source = self.sources.get(camera)
        return source is not None and source.state == "up"

    def start_cameras(self) -> None:
        """One capture thread per camera, pushing into its ring on the service's time line."""
        for name, cam in self.site.cameras.items():
            self.sources[name] = start_camera(name, cam, self.rings[name], self.clock)

    def stop_cameras(self) -> None:
        """Stop the capture threads and wake anyone waiting for frames."""
        for name, source in self.sources.items():
            if not source.stop(timeout_s=5.0):
                log.warning("camera=%s capture thread did not stop", name)
        for ring in self.rings.values():
            ring.close()

    def health(self) -> dict[str, Any]:
        """Camera states and counters, and the plate stage's."""
        cameras = camera_health(self.rings, self.sources)
        plates = self.finder.stats_dict()
        plates.update(
            queued=self.queue.qsize(),
            overflow=self.overflow,
            errors=self.errors,
            wait_timeouts=self.live.timeouts,
        )
        return {"cameras": cameras, "plates": plates}


class _ClockCache:
    """Clock sync state for records, re-read once a minute rather than per record."""

    def __init__(self) -> None:
        self._info = ClockInfo(source="ntp", synced=False, offset_ms=None)
        self._read_at = -CLOCK_REFRESH_S

    def __call__(self) -> ClockInfo:
        now = time.monotonic()
        if now - self._read_at >= CLOCK_REFRESH_S:
            state = read_clock_state()
            self._info = ClockInfo(source="ntp", synced=state.synced, offset_ms=state.est_error_ms)
            self._read_at = now
        return self._info


class Service:
    """The running unit for one site configuration."""

    def __init__(
        self,
        site: SiteConfig,
        *,
        now_ns: Callable[[], int] = time.time_ns,
        notifier: Notifier | None = None,
    ) -> None:
        self.site = site
        self.notifier = notifier or Notifier()
        self.t0_unix_ns = now_ns()
        mono0 = time.monotonic_ns()
        # Host receive times are ns since t0 on the monotonic clock: never decreasing,
        # immune to NTP steps; records map them back with t0_unix_ns.
        self.host_ns: Callable[[], int] = lambda: time.monotonic_ns() - mono0
        self.writer_clock = _ClockCache()
        data_dir = site.records.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.key = load_signing_key(site.records)
        self.plates: _PlateStage | None = None
        if site.plates is not None and site.cameras:
            self.plates = _PlateStage(site, site.plates, self.host_ns)
        self.outbox = Outbox(data_dir / "outbox.sqlite", site.outbox, now_ns=now_ns)
        self.writer = RecordWriter(
            self.outbox,
            self.key,
            site.site.id,
            site.device.id,
            __version__,
            models=self.plates.reader.models() if self.plates is not None else {},
            clock_info=self.writer_clock,
            now_ns=now_ns,
        )
        self.publisher: Publisher | None = None
        if site.mqtt is not None:
            birth = {"software": __version__, "kid": self.key.kid}
            self.publisher = Publisher(
                site.mqtt,
                self.outbox,
                site.site.id,
                site.device.id,
                jwks([self.key.public_jwk()]),
                birth,
                now_ns,
                health_extra=self.health,
            )
        on_record = self._notify_publisher if self.publisher is not None else None
        self.pipeline = VehiclePipeline(
            site,
            self.writer,
            self.t0_unix_ns,
            plate_lookup=self.plates.finder.find if self.plates is not None else None,
            on_record=on_record,
            evidence_dir=data_dir / "evidence",
        )
        self._lock = threading.Lock()  # one writer into the chain
        self._stop = threading.Event()
        self.workers = {
            name: _Worker(name, make_decoder(site, name, self.t0_unix_ns))
            for name in sorted({lane.source for lane in site.wim.lanes})
        }

    def _notify_publisher(self, _record: object) -> None:
        if self.publisher is not None:
            self.publisher.notify()

    # ------------------------------------------------------------------ lifecycle
    def run(self, stop: threading.Event, *, poll_s: float = 1.0) -> None:
        """Start everything, supervise until `stop` is set, then shut down cleanly."""
        if self.publisher is not None:
            self.publisher.start()
        if self.plates is not None:
            self.plates.start_cameras()
            self._start_plate_thread(self.plates)
        for worker in self.workers.values():
            self._start_reader(worker)
            self._start_worker(worker)
        self.notifier.ready(self._status_line())
        log.info(
            "service started site=%s device=%s sources=%s",
            self.site.site.id,
            self.site.device.id,
            sorted(self.workers),
        )
        interval = watchdog_interval_s() or poll_s
        last_maintain = time.monotonic()
        try:
            while not stop.wait(min(poll_s, interval)):
                self._supervise()
                if time.monotonic() - last_maintain >= MAINTAIN_S:
                    last_maintain = time.monotonic()
                    self._maintain()
                if self._healthy(max(3 * poll_s, 2 * interval)):
                    self.notifier.watchdog()
                self.notifier.status(self._status_line())
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop readers, finish queued input, record what is complete, close the outbox."""
        self.notifier.stopping()
        for worker in self.workers.values():
            if worker.reader is not None:
                worker.reader.stop()
        self._stop.set()
        for worker in self.workers.values():
            if worker.thread is not None:
                worker.thread.join(timeout=10)
            self._record(worker.decoder.flush(), block=True)
        if self.plates is not None:
            self.plates.done.set()
            if self.plates.thread is not None:
                self.plates.thread.join(timeout=30)
            self.plates.stop_cameras()
        if self.publisher is not None:
            self.publisher.drain(5.0)
            self.publisher.stop()
        self.outbox.close()
        log.info(
            "service stopped vehicles=%d violations=%d",
            self.pipeline.counts.vehicles,
            self.pipeline.counts.violations,
        )

    # ------------------------------------------------------------------ workers
    def _start_reader(self, worker: _Worker) -> None:
        src = self.site.serial[worker.name]

        def on_data(t_ns: int, data: bytes) -> None:
            # Blocking put: if the worker falls behind, the port's own buffer absorbs it and
            # LCS1 sequence numbers count whatever is lost; nothing is dropped silently here.
            worker.chunks.put((t_ns, data))

        def on_state(state: SourceState, reason: str) -> None:
            if state is SourceState.UP and worker.reader is not None:
                worker.reopened = True
            log.info("serial source=%s state=%s %s", worker.name, state.value, reason)

        worker.reader = SerialReader(
            worker.name,
            src.url,
            src.baud,
            on_data,
            clock=self.host_ns,
            protocol=src.protocol,
            reopen_max_s=src.reopen_max_s,
            on_state=on_state,
        )
        worker.reader.start()

    def _start_worker(self, worker: _Worker) -> None:
        worker.heartbeat = time.monotonic()
        worker.thread = threading.Thread(
            target=self._work, args=(worker,), name=f"decode-{worker.name}", daemon=True
        )
        worker.thread.start()

    def _work(self, worker: _Worker) -> None:
        try:
            while not (self._stop.is_set() and worker.chunks.empty()):
                worker.heartbeat = time.monotonic()
                try:
                    t_ns, data = worker.chunks.get(timeout=0.5)
                except queue.Empty:
                    continue
                if worker.reopened:
                    worker.reopened = False
                    worker.decoder.reset()
                self._record(worker.decoder.feed(t_ns, data))
        except Exception:  # a bug in a stage: log it with its traceback; _supervise restarts
            log.exception("worker for source %s died", worker.name)
            raise

    def _record(self, vehicles: list[WeighedVehicle], *, block: bool = False) -> None:
        """Record vehicles now, or hand them to the plate thread when plates are read.

        A full plate queue never holds up decoding: the vehicle is recorded with plate null
        (`block` waits instead, at shutdown, when nothing else is coming).
        """
        stage = self.plates
        for vehicle in vehicles:
            if stage is not None:
                try:
                    stage.queue.put(vehicle, block=block, timeout=30 if block else None)
                    continue
                except queue.Full:
                    stage.overflow += 1
                    log.warning(
                        "plate stage behind (%d queued): lane=%d recorded without plate",
                        stage.queue.qsize(),
                        vehicle.lane,
                    )
            with self._lock:
                self.pipeline.record(vehicle, None)

    def _start_plate_thread(self, stage: _PlateStage) -> None:
        stage.heartbeat = time.monotonic()
        stage.thread = threading.Thread(
            target=self._plate_work, args=(stage,), name="plates", daemon=True
        )
        stage.thread.start()

    def _plate_work(self, stage: _PlateStage) -> None:
        """Wait for each vehicle's frames, read its plate, record it (plate null on failure)."""
        while not (stage.done.is_set() and stage.queue.empty()):
            stage.heartbeat = time.monotonic()
            try:
                vehicle = stage.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                found = self.pipeline.lookup(vehicle)
            except Exception:  # a bug in plate reading must cost the plate, not the vehicle
                stage.errors += 1
                log.exception("plate lookup failed lane=%d; recorded without plate", vehicle.lane)
                found = None
            with self._lock:
                self.pipeline.record(vehicle, found)

    def _supervise(self) -> None:
        """Restart dead workers within the budget."""
        stage = self.plates
        if stage is not None and stage.thread is not None and not stage.thread.is_alive():
            # Only a bug in recording itself gets here (lookup failures are caught per vehicle).
            stage.errors += 1
            log.warning("restarting the plate thread")
            self._start_plate_thread(stage)
        for worker in self.workers.values():
            if worker.thread is None or worker.thread.is_alive() or self._stop.is_set():
                continue
            now = time.monotonic()
            worker.failures = [t for t in worker.failures if now - t < RESTART_WINDOW_S]
            worker.failures.append(now)
            if len(worker.failures) > RESTART_BUDGET:
                raise ServiceFailedError(
                    f"decoder for serial source {worker.name!r} died {len(worker.failures)} "
                    f"times within {RESTART_WINDOW_S:.0f} s; giving up so systemd restarts the unit"
                )
            log.warning(
                "restarting worker for source %s (%d/%d)",
                worker.name,
                len(worker.failures),
                RESTART_BUDGET,
            )
            worker.decoder = make_decoder(self.site, worker.name, self.t0_unix_ns)
            self._start_worker(worker)

    def _maintain(self) -> None:
        """Outbox housekeeping, then commit records held in memory while the disk was full."""
        self.outbox.maintain()
        with self._lock:
            if self.writer.held:
                try:
                    for record in self.writer.retry_pending():
                        self._notify_publisher(record)
                except OutboxFullError:
                    log.warning("outbox still full; %d record(s) held in memory", self.writer.held)

    def _healthy(self, max_silence_s: float) -> bool:
        now = time.monotonic()
        # The plate thread may wait for frames for a few seconds: alive is enough.
        plates_ok = self.plates is None or (
            self.plates.thread is not None and self.plates.thread.is_alive()
        )
        return plates_ok and all(
            w.thread is not None and w.thread.is_alive() and now - w.heartbeat < max_silence_s
            for w in self.workers.values()
        )

    def _status_line(self) -> str:
        c = self.pipeline.counts
        states = ", ".join(
            f"{w.name} {w.reader.state.value if w.reader else 'starting'}"
            for w in self.workers.values()
        )
        return f"{c.vehicles} vehicles, {c.violations} violations; {states}"

    def health(self) -> dict[str, Any]:
        """The unit's part of {p}/health: device states, error counters, disk, clock, rates."""
        sources = {}
        for name, w in self.workers.items():
            reader = w.reader.stats() if w.reader else None
            parser = w.decoder.stats().get("parser", {})
            sources[name] = {
                "state": reader.state.value if reader else "starting",
                "downs": reader.downs if reader else 0,
                "bytes": reader.bytes if reader else 0,
                "queued": w.chunks.qsize(),
                "errors": {
                    k: v for k, v in parser.items() if k.endswith(("errors", "lost_frames"))
                },
            }
        clock = self.writer_clock()
        try:
            free = shutil.disk_usage(self.site.records.data_dir).free
        except OSError:
            free = None
        uptime_s = max(self.host_ns() / 1e9, 1e-9)
        c = self.pipeline.counts
        plates = self.plates.health() if self.plates is not None else {}
        return {
            **plates,
            "sources": sources,
            "disk_free_bytes": free,
            "clock": {"synced": clock.synced, "offset_ms": clock.offset_ms},
            "vehicles": c.vehicles,
            "violations": c.violations,
            "vehicles_per_hour": round(c.vehicles * 3600 / uptime_s, 1),
            "held_in_memory": self.writer.held,
        }

    def stats(self) -> dict[str, Any]:
        """Counters of every stage, for health and tests."""
        out: dict[str, Any] = {
            "vehicles": self.pipeline.counts.vehicles,
            "violations": self.pipeline.counts.violations,
            "sources": {},
        }
        for name, w in self.workers.items():
            out["sources"][name] = {
                "decoder": w.decoder.stats(),
                "reader": w.reader.stats() if w.reader else None,
                "queued": w.chunks.qsize(),
            }
        return out
