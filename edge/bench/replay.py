"""`edge replay`: the whole program over a recorded scenario folder (specs/bench.md).

Captures are merged in host-receive-time order and fed to the same decoders and pipeline as the
live service. Output: records.jws (one JWS per line, seq order), evidence/, summary.json,
keys.jwks. The outbox lives in DIR/state/ so `--broker` delivers exactly what was written.
"""

from __future__ import annotations

import heapq
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from drivers.camera.replay import VideoFileSource
from drivers.scap import ScapReader
from edge import __version__
from edge.bench.scenario import Scenario
from edge.config.site import MqttConfig, SiteConfig, load_site
from edge.delivery.publisher import Publisher
from edge.errors import CaptureError, ConfigError, DeliveryError
from edge.fusion import Observation
from edge.outbox.store import Outbox, StoredRecord
from edge.pipeline import VehiclePipeline
from edge.records.builder import ClockInfo, RecordWriter
from edge.records.keys import SigningKey, jwks
from edge.vision.frames import FrameRing
from edge.vision.lookup import PlateFinder
from edge.vision.plates.reader import PlateReader
from edge.wim.decoder import SourceDecoder, make_decoder

log = logging.getLogger(__name__)

OUTPUT_NAMES = ("records.jws", "summary.json", "keys.jwks", "evidence", "state")


@dataclass(frozen=True)
class ReplayOptions:
    """What `edge replay` was asked to do."""

    scenario: Path
    out: Path
    config: Path | None = None
    realtime: bool = False
    broker: str | None = None
    end_to_end_ack: bool = False
    drain_timeout_s: float = 120.0
    key_file: Path | None = None


@dataclass
class ReplayResult:
    """What a replay produced."""

    site: SiteConfig
    observations: list[Observation] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


Progress = Callable[[float], None]


def _chunks(scenario: Scenario, names: list[str]) -> Iterator[tuple[int, str, bytes]]:
    """All serial chunks of the scenario in host-receive-time order: (t_ns, source, data)."""
    readers = [ScapReader(scenario.serial_path(name)) for name in names]

    def stream(name: str, reader: ScapReader) -> Iterator[tuple[int, str, bytes]]:
        with reader:
            for chunk in reader:
                yield chunk.t_ns, name, chunk.data
            if reader.truncated:
                log.warning("capture %s ends with a truncated record (dropped)", reader.path)

    yield from heapq.merge(*(stream(n, r) for n, r in zip(names, readers, strict=True)))


class ScenarioVideos:
    """The scenario's camera videos as frame rings, fed on demand (PlateFinder's frames_until).

    Frames are decoded lazily and in time order, only as far as the vehicle being recorded
    needs, so the serial side never runs ahead of the video however fast the replay goes.
    Frames older than a ring's span before that point are skipped undecoded: the ring would
    evict them on arrival anyway. Rings keep the camera's `buffer_s`, so a vehicle recorded a
    little after a later one (another lane, a slow truck) still finds its frames.
    """

    def __init__(self, scenario: Scenario, site: SiteConfig) -> None:
        self.sources: dict[str, VideoFileSource] = {}
        self.rings: dict[str, FrameRing] = {}
        if site.plates is None:
            return  # nothing reads frames: the videos are not even opened, as before plates
        for name, scam in scenario.file.cameras.items():
            cam = site.cameras.get(name)
            if cam is None:
                log.warning("camera %s of the scenario is not in the site config; ignored", name)
                continue
            source = VideoFileSource.from_scenario(scenario.folder, name, scam)
            self.sources[name] = source
            # The ring holds buffer_s of this video's frames even if it runs faster than cam.fps,
            # within the same ring_fps and ring_max_mb as on the unit: replay sees what it sees.
            fps = max(cam.fps, source.fps)
            self.rings[name] = FrameRing.for_camera(
                name, cam.buffer_s, fps, max_bytes=cam.ring_max_bytes, keep_fps=cam.ring_fps
            )

    def __call__(self, camera: str, t_ns: int) -> bool:
        """Push the camera's frames up to `t_ns` into its ring; False if the video ends first."""
        source = self.sources[camera]
        ring = self.rings[camera]
        source.skip_to(t_ns - ring.span_ns)
        source.feed(ring, t_ns)
        latest = ring.latest()
        # Unless the video ended, every frame up to t_ns was fed (ring_fps may skip the last).
        return latest is not None and (latest.t_ns >= t_ns or not ring.closed)

    def stats(self) -> dict[str, Any]:
        """Per camera: the decoder's counters and the ring's."""
        out: dict[str, Any] = {}
        for name, source in self.sources.items():
            s = source.stats()
            r = self.rings[name].stats()
            out[name] = {
                "frames": s.frames,
                "skipped": s.skipped,
                "decode_errors": s.decode_errors,
                "ring_evicted": r.evicted,
                "ring_dropped": r.dropped,
                "ring_skipped": r.skipped,
            }
        return out

    def close(self) -> None:
        """Release the decoders."""
        for source in self.sources.values():
            source.close()

    def __enter__(self) -> ScenarioVideos:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plate_finder(
    site: SiteConfig, videos: ScenarioVideos
) -> tuple[PlateFinder | None, dict[str, str]]:
    """The plate stage and its models' sha256 (for records), when the site has a `plates:`
    section and the scenario has video; otherwise none (plates stay null, as before)."""
    if site.plates is None or not videos.rings:
        return None, {}
    reader = PlateReader(site.plates)
    finder = PlateFinder(site.cameras, videos.rings, reader, site.plates.region, videos)
    return finder, reader.models()


def _prepare_out(out: Path) -> None:
    """Create DIR; replace only what a previous replay wrote there."""
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUT_NAMES:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    (out / "evidence").mkdir()
    (out / "state").mkdir()


def _load_site(opts: ReplayOptions, scenario: Scenario) -> SiteConfig:
    path = opts.config or scenario.site_path()
    if path is None:
        raise CaptureError(
            f"{scenario.folder / 'scenario.yaml'}: names no site configuration; pass --config"
        )
    site = load_site(path)
    for name in scenario.file.serial:
        if name not in site.serial:
            raise CaptureError(
                f"{scenario.folder / 'scenario.yaml'}: serial source {name!r} is not in {path}"
            )
    return site


def _mqtt_config(site: SiteConfig, broker: str, end_to_end_ack: bool) -> MqttConfig:
    """The site's MQTT settings (if any) with the broker from --broker, validated."""
    base = site.mqtt.model_dump() if site.mqtt is not None else {}
    base["url"] = broker
    base["end_to_end_ack"] = end_to_end_ack or bool(base.get("end_to_end_ack"))
    try:
        return MqttConfig.model_validate(base)
    except ValidationError as exc:
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise ConfigError(f"--broker {broker}: {problems}") from None


def run_replay(opts: ReplayOptions, progress: Progress | None = None) -> ReplayResult:
    """Replay a scenario folder into an output folder; returns the observations and summary."""
    started = time.monotonic()
    scenario = Scenario(opts.scenario)
    site = _load_site(opts, scenario)
    mqtt = _mqtt_config(site, opts.broker, opts.end_to_end_ack) if opts.broker else None
    _prepare_out(opts.out)
    key = SigningKey.load(opts.key_file) if opts.key_file else SigningKey.generate()
    videos = ScenarioVideos(scenario, site)  # closed with records.jws below
    finder, models = _plate_finder(site, videos)
    keyset = jwks([key.public_jwk()])
    (opts.out / "keys.jwks").write_text(json.dumps(keyset, indent=2) + "\n", encoding="utf-8")

    clock_ns = [scenario.t0_unix_ns]  # scenario time: ids stay time-ordered on event time
    # A bench output folder needs no disk-full ballast; retention rules stay the site's.
    box_cfg = site.outbox.model_copy(update={"ballast_bytes": 0})
    outbox = Outbox(opts.out / "state" / "outbox.sqlite", box_cfg, now_ns=lambda: clock_ns[0])
    writer = RecordWriter(
        outbox,
        key,
        site.site.id,
        site.device.id,
        __version__,
        models=models,
        clock_info=lambda: ClockInfo(source="replay", synced=False, offset_ms=None),
        now_ns=lambda: clock_ns[0],
    )
    publisher: Publisher | None = None
    if mqtt is not None:
        birth = {"software": __version__, "kid": key.kid, "mode": "replay"}
        publisher = Publisher(mqtt, outbox, site.site.id, site.device.id, keyset, birth)
        publisher.start()

    result = ReplayResult(site=site)
    with (opts.out / "records.jws").open("w", encoding="ascii") as jws_file, videos:
        pipeline = VehiclePipeline(
            site,
            writer,
            scenario.t0_unix_ns,
            plate_lookup=finder.find if finder is not None else None,
            on_record=_record_sink(jws_file, publisher),
            evidence_dir=opts.out / "evidence",
        )
        decoders = {
            name: make_decoder(site, name, scenario.t0_unix_ns) for name in scenario.file.serial
        }
        last_t = _feed_all(
            scenario=scenario,
            decoders=decoders,
            pipeline=pipeline,
            result=result,
            clock_ns=clock_ns,
            opts=opts,
            progress=progress,
        )
        for decoder in decoders.values():
            for vehicle in decoder.flush():
                result.observations.append(pipeline.process(vehicle))

    remaining = 0
    if publisher is not None:
        remaining = publisher.drain(opts.drain_timeout_s)
        publisher.stop()
    wall_s = time.monotonic() - started
    result.summary = _summary(
        site=site,
        scenario=scenario,
        decoders=decoders,
        pipeline=pipeline,
        outbox=outbox,
        last_t_ns=last_t,
        wall_s=wall_s,
        undelivered=remaining,
    )
    if finder is not None:
        result.summary["plates"] = finder.stats_dict()
    if videos.sources:
        result.summary["cameras"] = videos.stats()
    outbox.close()
    (opts.out / "summary.json").write_text(
        json.dumps(result.summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    if remaining:
        raise DeliveryError(
            f"{remaining} record(s) not delivered to {opts.broker} within "
            f"{opts.drain_timeout_s:g} s; they stay in {opts.out / 'state' / 'outbox.sqlite'}"
        )
    return result


def _record_sink(jws_file: TextIO, publisher: Any) -> Callable[[StoredRecord], None]:
    def sink(record: StoredRecord) -> None:
        jws_file.write(record.jws + "\n")
        if publisher is not None:
            publisher.notify()

    return sink


def _feed_all(
    *,
    scenario: Scenario,
    decoders: dict[str, SourceDecoder],
    pipeline: VehiclePipeline,
    result: ReplayResult,
    clock_ns: list[int],
    opts: ReplayOptions,
    progress: Progress | None,
) -> int:
    """Feed every chunk in time order; returns the last chunk time (scenario duration)."""
    names = list(scenario.file.serial)
    total = sum(scenario.serial_path(n).stat().st_size for n in names) or 1
    done = 0
    wall0 = time.monotonic()
    last_t = 0
    for t_ns, name, data in _chunks(scenario, names):
        if opts.realtime:
            delay = t_ns / 1e9 - (time.monotonic() - wall0)
            if delay > 0:
                time.sleep(delay)
        clock_ns[0] = scenario.t0_unix_ns + t_ns
        last_t = t_ns
        for vehicle in decoders[name].feed(t_ns, data):
            result.observations.append(pipeline.process(vehicle))
        done += len(data) + 12
        if progress is not None:
            progress(done / total)
    return last_t


def _summary(
    *,
    site: SiteConfig,
    scenario: Scenario,
    decoders: dict[str, SourceDecoder],
    pipeline: VehiclePipeline,
    outbox: Outbox,
    last_t_ns: int,
    wall_s: float,
    undelivered: int,
) -> dict[str, Any]:
    counts = pipeline.counts
    duration_s = last_t_ns / 1e9
    return {
        "scenario": str(scenario.folder),
        "site": site.site.id,
        "device": site.device.id,
        "software": __version__,
        "t0_unix_ns": scenario.t0_unix_ns,
        "counts": {
            "vehicles": counts.vehicles,
            "violations": counts.violations,
            "plate_reads": counts.plates_read,
            "evidence_files": counts.evidence_files,
            "road_events": 0,
            "records": counts.records,
            "vehicles_by_lane": {str(k): v for k, v in sorted(counts.by_lane.items())},
        },
        "sources": {name: d.stats() for name, d in decoders.items()},
        "timings": {
            "scenario_s": round(duration_s, 3),
            "wall_s": round(wall_s, 3),
            "realtime_factor": round(duration_s / wall_s, 1) if wall_s > 0 else None,
        },
        "outbox": {"pending": outbox.stats().pending, "undelivered": undelivered},
    }
