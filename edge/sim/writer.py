"""generate(): write a whole scenario folder (specs/bench.md) from simulated traffic.

The signal is produced one block (one second) at a time, so an hour-long scenario needs no more
memory than a short one.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
import yaml

from drivers.scap import ScapWriter
from edge.bench.scenario import ScenarioCamera, ScenarioFile, write_scenario_yaml
from edge.config.loader import load_model
from edge.config.site import SiteConfig
from edge.errors import ConfigError
from edge.sim.options import SimOptions, SimResult
from edge.sim.physics import ChannelErrors, Floats, SimSite, add_vehicle_force, to_counts
from edge.sim.plate_text import PlateSpec, assign_plates
from edge.sim.stream import Chunker, LineNoise, encode_frames
from edge.sim.traffic import LEAD_IN_S, SimVehicle, TrafficParams, end_time_s, traffic
from edge.sim.video import VideoWritten, write_camera_video

log = logging.getLogger(__name__)

Progress = Callable[[float], None]
TAIL_S = 2.0  # empty scale after the last vehicle
CAPTURE_SHARE = 0.2  # of the progress bar, when video follows the capture
# Added to the packaged reference site's copy when video is written, so that a replay reads them.
PLATES_SECTION = "\nplates:\n  region: cn\n"


def _site_text(options: SimOptions) -> tuple[str, SiteConfig]:
    """The site YAML text and its validated model (packaged reference site by default)."""
    if options.site is not None:
        cfg = load_model(options.site, SiteConfig)
        return options.site.read_text(encoding="utf-8"), cfg
    text = resources.files("edge.sim").joinpath("reference-site.yaml").read_text("utf-8")
    if options.include_video:
        text += PLATES_SECTION
    return text, SiteConfig.model_validate(yaml.safe_load(text))


def _traffic_params(options: SimOptions, cfg: SiteConfig) -> TrafficParams:
    return TrafficParams(
        lanes=tuple(lane.lane for lane in cfg.wim.lanes[: options.lanes]),
        vehicles=options.vehicle_count,
        duration_s=options.duration_s,
        speed_kmh=options.speed_kmh,
        dynamic_max=options.dynamic_max,
        overload_fraction=options.overload_fraction,
        accel_max_mps2=options.accel_max_mps2,
        mean_headway_s=options.mean_headway_s,
        row_spacing_m=cfg.wim.row_spacing_m,
        platform_m=cfg.wim.platform_length_m,
    )


def _duration(options: SimOptions, vehicles: list[SimVehicle], params: TrafficParams) -> float:
    end = max((end_time_s(v, params) for v in vehicles), default=LEAD_IN_S) + TAIL_S
    if options.duration_s is None:
        return end
    if options.vehicles is None:  # traffic() kept every vehicle inside the asked duration
        return options.duration_s
    if end > options.duration_s and options.vehicles is not None:
        log.warning("simulate: %d vehicles need %.1f s, longer than asked", len(vehicles), end)
    return max(end, options.duration_s)


class _Renderer:
    """Turns vehicles into ADC counts, block by block."""

    def __init__(
        self, options: SimOptions, site: SimSite, vehicles: list[SimVehicle], params: TrafficParams
    ) -> None:
        self.options = options
        self.site = site
        self.vehicles = vehicles
        self.starts = np.array([v.t_s - 0.01 for v in vehicles])
        self.ends = np.array([end_time_s(v, params) + 0.01 for v in vehicles])
        self.period_s = (1.0 + options.clock_ppm * 1e-6) / options.rate
        self.rng = np.random.default_rng(np.random.SeedSequence([options.seed, 2]))
        self.errors = ChannelErrors.draw(
            self.rng, site, options.zero_drift_counts, options.noise_kg
        )

    def block(self, first_sample: int, n: int) -> tuple[npt.NDArray[np.int32], Floats]:
        """Counts (n, nch) of samples first_sample.. and their times in seconds since t0."""
        t = (first_sample + np.arange(n, dtype=np.float64)) * self.period_s
        force = np.zeros((n, self.site.nch))
        for k in np.nonzero((self.starts < t[-1]) & (self.ends > t[0]))[0]:
            i0, i1 = np.searchsorted(t, [self.starts[k], self.ends[k]])
            add_vehicle_force(force[i0:i1], t[i0:i1], self.vehicles[k], self.site)
        return to_counts(force, t, self.site, self.errors, self.rng), t


def _write_capture(
    path: Path,
    options: SimOptions,
    site: SimSite,
    renderer: _Renderer,
    duration_s: float,
    *,
    progress: Progress | None,
) -> SimResult:
    rng = np.random.default_rng(np.random.SeedSequence([options.seed, 3]))
    nframes = math.ceil(duration_s * options.rate / options.nsamp)
    frames_per_block = max(1, options.rate // options.nsamp)
    # start the board clock and seq close to their wraps so that every run crosses them
    t_us0 = int(2**32 - rng.uniform(0.3, 0.9) * duration_s * 1e6) % 2**32
    seq0 = int(65536 - rng.uniform(0.3, 0.9) * min(nframes, 65536)) % 65536
    noise = LineNoise(
        np.random.default_rng(np.random.SeedSequence([options.seed, 4])), options.line_noise
    )
    chunker = Chunker(np.random.default_rng(np.random.SeedSequence([options.seed, 5])))
    lost = overrange = 0
    step_us = options.nsamp * 1_000_000 // options.rate
    extra = {"simulated": True, "seed": options.seed, "rate": options.rate, "nch": site.nch}
    with ScapWriter(path, site.url, site.baud, "lcs1", options.t0_unix_ns, **extra) as out:
        for j0 in range(0, nframes, frames_per_block):
            nf = min(frames_per_block, nframes - j0)
            counts, t = renderer.block(j0 * options.nsamp, nf * options.nsamp)
            samples = counts.reshape(nf, options.nsamp, site.nch)
            frames = encode_frames(samples, seq0 + j0, t_us0 + j0 * step_us, options.rate)
            overrange += int(np.count_nonzero(frames[:, 5] & 1))
            keep = rng.random(nf) >= options.lost_frames
            lost += nf - int(keep.sum())
            stream, ends = noise.apply(frames[keep])
            done_ns = t.reshape(nf, options.nsamp)[keep, -1] * 1e9
            final = j0 + nf >= nframes
            for t_ns, data in chunker.feed(stream, ends, done_ns, final=final):
                out.write(t_ns, data)
            if progress is not None:
                progress((j0 + nf) / nframes)
    return SimResult(
        out_dir=path.parent,
        duration_s=duration_s,
        vehicles=tuple(renderer.vehicles),
        frames=nframes,
        frames_lost=lost,
        frames_damaged=noise.damaged,
        garbage_bursts=noise.garbage,
        overrange_frames=overrange,
        chunks=chunker.chunks,
        bytes=chunker.nbytes,
        t_us0=t_us0,
        seq0=seq0,
    )


def _write_truth(path: Path, vehicles: list[SimVehicle]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for veh in vehicles:
            f.write(json.dumps(veh.truth(), ensure_ascii=False) + "\n")


def _write_sim_json(
    path: Path, options: SimOptions, result: SimResult, videos: list[VideoWritten], elapsed: float
) -> None:
    """Side file with the options and counters (not part of bench.md; tools may ignore it)."""
    opts = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()}
    info = {
        "options": opts,
        "duration_s": result.duration_s,
        "vehicles": len(result.vehicles),
        "overloaded": result.overloaded,
        "types": [v.body.kind.name for v in result.vehicles],
        "frames": result.frames,
        "frames_lost": result.frames_lost,
        "frames_damaged": result.frames_damaged,
        "garbage_bursts": result.garbage_bursts,
        "overrange_frames": result.overrange_frames,
        "chunks": result.chunks,
        "bytes": result.bytes,
        "t_us0": result.t_us0,
        "seq0": result.seq0,
        "elapsed_s": round(elapsed, 3),
    }
    if videos:  # text painted on trucks: never a plate, whatever a reader makes of it
        info["cameras"] = {
            v.camera: {
                "frames": v.frames,
                "painted": [{"t_ns": t, "text": x} for t, x in v.painted],
            }
            for v in videos
        }
    path.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")


def _with_plates(
    options: SimOptions, cfg: SiteConfig, vehicles: list[SimVehicle]
) -> tuple[list[SimVehicle], dict[int, PlateSpec]]:
    """Plates for the vehicles the site's cameras see (none without video), truth filled in."""
    if not options.include_video:
        return vehicles, {}
    if not cfg.cameras:
        raise ConfigError("simulate: the site has no cameras: video needs at least one")
    if cfg.plates is None:
        log.warning("simulate: the site has no plates: section; a replay will not read plates")
    rng = np.random.default_rng(np.random.SeedSequence([options.seed, 6]))
    lanes = {cam.lane for cam in cfg.cameras.values()}
    specs = assign_plates(vehicles, lanes, rng, options.covered_plates)
    for i, spec in specs.items():
        vehicles[i] = replace(vehicles[i], plate=spec.truth_text, plate_color=spec.truth_color)
    return vehicles, specs


def _write_videos(
    out_dir: Path,
    options: SimOptions,
    cfg: SiteConfig,
    result: SimResult,
    specs: dict[int, PlateSpec],
    *,
    progress: Progress | None,
) -> list[VideoWritten]:
    """One video per site camera (in name order), with the vehicles of its lane."""
    if not options.include_video:
        return []
    names = sorted(cfg.cameras)
    written = []
    for k, name in enumerate(names):

        def part(fraction: float, k: int = k) -> None:
            if progress is not None:
                done = (k + fraction) / len(names)
                progress(CAPTURE_SHARE + (1 - CAPTURE_SHARE) * done)

        written.append(
            write_camera_video(
                out_dir,
                name,
                cfg.cameras[name],
                result.vehicles,
                specs,
                size=options.video_size,
                fps=options.video_fps,
                duration_s=result.duration_s,
                seed=options.seed,
                progress=part,
            )
        )
    return written


def _capture_progress(options: SimOptions, progress: Progress | None) -> Progress | None:
    if progress is None or not options.include_video:
        return progress
    return lambda fraction: progress(fraction * CAPTURE_SHARE)


def generate(out_dir: Path, options: SimOptions, progress: Progress | None = None) -> SimResult:
    """Write a scenario folder: scenario.yaml, site.yaml, <source>.scap, truth.jsonl, sim.json,
    and with options.include_video <camera>.mp4 and <camera>.frames.csv per site camera.

    Deterministic for a given options.seed. `progress` is called with the done fraction (0..1).
    """
    started = time.monotonic()
    site_text, cfg = _site_text(options)
    site = SimSite.from_config(cfg, options.lanes)
    params = _traffic_params(options, cfg)
    rng = np.random.default_rng(np.random.SeedSequence([options.seed, 1]))
    vehicles, specs = _with_plates(options, cfg, traffic(rng, params))
    duration_s = _duration(options, vehicles, params)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "site.yaml").write_text(site_text, encoding="utf-8")
        scap = f"{site.source}.scap"
        renderer = _Renderer(options, site, vehicles, params)
        result = _write_capture(
            out_dir / scap,
            options,
            site,
            renderer,
            duration_s,
            progress=_capture_progress(options, progress),
        )
        _write_truth(out_dir / "truth.jsonl", vehicles)
        videos = _write_videos(out_dir, options, cfg, result, specs, progress=progress)
        cameras = {v.camera: ScenarioCamera(file=v.file, frames=v.frames_file) for v in videos}
        write_scenario_yaml(
            out_dir,
            ScenarioFile(
                site="site.yaml",
                t0_unix_ns=options.t0_unix_ns,
                serial={site.source: scap},
                cameras=cameras,
            ),
        )
        _write_sim_json(out_dir / "sim.json", options, result, videos, time.monotonic() - started)
    except OSError as exc:
        raise ConfigError(f"{out_dir}: cannot write the scenario: {exc}") from None
    return result
