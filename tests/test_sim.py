"""The simulator writes scenario folders whose LCS1 signal obeys the physics of serial.md."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from drivers.scap import ScapReader
from edge.bench.scenario import Scenario
from edge.cli.main import main
from edge.config import load_site
from edge.errors import ConfigError, ProtocolError
from edge.sim import SimOptions, SimResult, generate
from edge.sim.traffic import MIN_GAP_M, MIN_GAP_S, TrafficParams, traffic
from edge.wim.protocols.lcs1 import SYNC, Lcs1Frame, frame_length

FLEN = frame_length(8, 20)
ZERO = np.array([1520, -830, 2210, 410, -1290, 760, 1880, -440], dtype=float)
KG_PER_COUNT = 0.02
LP = 0.75


def read_stream(folder: Path) -> bytes:
    """All bytes of wim0.scap, checking what a replay relies on (never-decreasing t_ns)."""
    with ScapReader(folder / "wim0.scap") as reader:
        assert reader.header.protocol == "lcs1"
        chunks = list(reader)
    assert all(a.t_ns <= b.t_ns for a, b in itertools.pairwise(chunks))
    assert len({len(c.data) for c in chunks}) > 10  # reads of many sizes, as a port returns them
    return b"".join(c.data for c in chunks)


def decode_all(stream: bytes) -> tuple[list[Lcs1Frame], int]:
    """Frames found by sync search with resync on a bad frame; also the count of bad tries."""
    frames: list[Lcs1Frame] = []
    bad = 0
    pos = stream.find(SYNC)
    while 0 <= pos <= len(stream) - FLEN:
        try:
            frames.append(Lcs1Frame.from_bytes(stream[pos : pos + FLEN]))
            pos = stream.find(SYNC, pos + FLEN)
        except ProtocolError:
            bad += 1
            pos = stream.find(SYNC, pos + 1)
    return frames, bad


def clean(**kw: object) -> SimOptions:
    """Options without line damage, so every frame decodes."""
    base: dict[str, object] = {"line_noise": 0.0, "seed": 7}
    base.update(kw)
    return SimOptions(**base)  # type: ignore[arg-type]


def test_folder_is_a_scenario_with_truth(tmp_path: Path) -> None:
    result = generate(tmp_path, SimOptions(vehicles=8, seed=1))
    scenario = Scenario(tmp_path)
    assert scenario.serial_path("wim0") == tmp_path / "wim0.scap"
    site = load_site(scenario.site_path() or Path())
    assert site.site.id == "reference-site"
    lines = [json.loads(x) for x in (tmp_path / "truth.jsonl").read_text().splitlines()]
    assert len(lines) == 8 == len(result.vehicles)
    for line, veh in zip(lines, result.vehicles, strict=True):
        assert set(line) == {
            "kind", "lane", "t_ns", "speed_mps", "axles", "plate", "plate_color", "overloaded"
        }  # fmt: skip
        assert line["kind"] == "vehicle" and line["plate"] is None
        assert [a["load_kg"] for a in line["axles"]] == list(veh.body.loads_kg)
        assert line["axles"][0]["spacing_m"] == 0.0
        gross = sum(a["load_kg"] for a in line["axles"])
        assert line["overloaded"] == (gross > veh.body.kind.limit_kg)
        weighed = veh.weighed()
        assert weighed.gross_kg == gross and weighed.lane == line["lane"]
        assert weighed.axles[1].left_kg + weighed.axles[1].right_kg == pytest.approx(
            line["axles"][1]["load_kg"]
        )
    assert [x["t_ns"] for x in lines] == sorted(x["t_ns"] for x in lines)


def test_clean_capture_decodes_with_consecutive_seq_and_clock_wraps(tmp_path: Path) -> None:
    result = generate(tmp_path, clean(vehicles=3, lanes=1))
    frames, bad = decode_all(read_stream(tmp_path))
    assert bad == 0 and len(frames) == result.frames
    seqs = np.array([f.seq for f in frames])
    t_us = np.array([f.t_us for f in frames], dtype=np.int64)
    assert np.all((np.diff(seqs) % 65536) == 1)
    assert np.all((np.diff(t_us) % 2**32) == 10_000)
    assert np.any(np.diff(seqs) < 0) and np.any(np.diff(t_us) < 0)  # both counters wrapped
    assert all(f.rate == 2000 and f.nch == 8 and f.nsamp == 20 for f in frames)


def channel_kg(folder: Path) -> np.ndarray:
    """Force per channel (samples, 8) in kg with the reference calibration."""
    frames, bad = decode_all(read_stream(folder))
    assert bad == 0
    counts = np.concatenate([f.samples for f in frames]).astype(float)
    return (counts - ZERO) * KG_PER_COUNT


def test_channel_integral_is_load_times_platform_over_speed(tmp_path: Path) -> None:
    result = generate(tmp_path, clean(vehicles=1, lanes=1, speed_kmh=(20, 20), dynamic_max=0))
    (veh,) = result.vehicles
    kg = channel_kg(tmp_path)
    kg -= np.median(kg[:2000], axis=0)  # the drifting zero, seen before the vehicle
    loads = np.array(veh.body.loads_kg, dtype=float)
    left = float((loads * np.array(veh.wheels.left_fraction)).sum())
    right = float(loads.sum()) - left
    area = kg.sum(axis=0) / 2000.0  # kg * s
    v = veh.speed_mps
    for chan, wheel_kg in [(0, left), (1, right), (2, left), (3, right)]:
        assert area[chan] == pytest.approx(wheel_kg * LP / v, rel=0.01)
    assert np.all(np.abs(area[4:]) < 0.01 * loads.min() * LP / v)  # lane 2 stays empty
    # row B sees the same vehicle 3 m later
    t = np.arange(len(kg)) / 2000.0
    centroid = (kg[:, :4] * t[:, None]).sum(axis=0) / kg[:, :4].sum(axis=0)
    assert centroid[2] - centroid[0] == pytest.approx(3.0 / v, rel=0.01)
    # the first tyre reaches row A at the truth's t_ns
    onset = t[np.argmax(kg[:, 0] + kg[:, 1] > 100.0)]
    assert onset == pytest.approx(veh.t_ns * 1e-9, abs=0.01)


def test_dynamic_loads_stay_close_to_static(tmp_path: Path) -> None:
    result = generate(tmp_path, clean(vehicles=1, lanes=1, speed_kmh=(60, 60), dynamic_max=0.1))
    (veh,) = result.vehicles
    kg = channel_kg(tmp_path)
    kg -= np.median(kg[:2000], axis=0)
    gross_area = kg[:, 0:2].sum() / 2000.0
    expected = veh.body.gross_kg * LP / veh.speed_mps
    assert gross_area == pytest.approx(expected, rel=0.10)
    assert gross_area != pytest.approx(expected, rel=1e-4)  # the load really moved


def test_same_seed_same_bytes_other_seed_other_traffic(tmp_path: Path) -> None:
    runs: list[SimResult] = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        runs.append(generate(tmp_path / name, SimOptions(vehicles=4, seed=seed)))
    a, b, c = ((tmp_path / n / "wim0.scap").read_bytes() for n in "abc")
    assert a == b and a != c
    assert (tmp_path / "a/truth.jsonl").read_text() == (tmp_path / "b/truth.jsonl").read_text()
    assert runs[0].vehicles != runs[2].vehicles


def test_line_noise_damages_frames_a_parser_can_skip(tmp_path: Path) -> None:
    result = generate(tmp_path, SimOptions(vehicles=2, lanes=1, line_noise=0.05, seed=3))
    frames, bad = decode_all(read_stream(tmp_path))
    assert result.frames_damaged > 10 and result.garbage_bursts > 10
    assert bad >= result.frames_damaged
    assert len(frames) == result.frames - result.frames_damaged


def test_lost_frames_leave_seq_gaps(tmp_path: Path) -> None:
    result = generate(tmp_path, clean(vehicles=1, lanes=1, lost_frames=0.02))
    frames, _ = decode_all(read_stream(tmp_path))
    gaps = int(((np.diff([f.seq for f in frames]) % 65536) - 1).sum())
    assert result.frames_lost > 0 and gaps == result.frames_lost


def params(lanes: tuple[int, ...] = (1, 2), vehicles: int = 400) -> TrafficParams:
    """Traffic of the reference site without rendering any signal."""
    return TrafficParams(
        lanes=lanes,
        vehicles=vehicles,
        duration_s=None,
        speed_kmh=(20.0, 100.0),
        dynamic_max=0.1,
        overload_fraction=0.1,
        accel_max_mps2=0.0,
        mean_headway_s=6.0,
        row_spacing_m=3.0,
        platform_m=LP,
    )


def test_vehicles_on_a_lane_can_be_told_apart() -> None:
    vehicles = traffic(np.random.default_rng(11), params())
    short = 0
    for lane in (1, 2):
        on_lane = [v for v in vehicles if v.lane == lane]
        for prev, nxt in itertools.pairwise(on_lane):
            for row_m in (0.0, 3.0):
                t_last = prev.t_s + (prev.offsets_m[-1] + row_m) / prev.speed_mps
                gap_s = nxt.t_s + row_m / nxt.speed_mps - t_last
                gap_m = gap_s * min(prev.speed_mps, nxt.speed_mps)
                assert gap_m > MIN_GAP_M - 0.01 or gap_s > MIN_GAP_S - 0.01
            short += gap_s < 1.5
    assert short > 20  # close followers are common, not an accident
    both = sum(
        1
        for a, b in itertools.pairwise(vehicles)
        if a.lane != b.lane and abs(a.t_ns - b.t_ns) < 500_000_000
    )
    assert both > 20  # vehicles side by side on the two lanes


def test_fleet_mix_and_overload_fraction() -> None:
    vehicles = traffic(np.random.default_rng(2), params(vehicles=600))
    kinds = {v.body.kind.name for v in vehicles}
    assert {"car", "bus", "rigid-2", "rigid-3", "rigid-4", "artic-5", "artic-6"} <= kinds
    trucks = [v for v in vehicles if v.body.kind.truck]
    over = sum(v.body.overloaded for v in trucks) / len(trucks)
    assert 0.05 < over < 0.16
    cars = [v.body.gross_kg for v in vehicles if v.body.kind.name == "car"]
    assert min(cars) > 1000 and max(cars) < 2500
    for v in vehicles:
        assert all(0 < s <= 12.0 for s in v.body.spacings_m[1:])


def test_duration_only_fills_the_time(tmp_path: Path) -> None:
    result = generate(tmp_path, SimOptions(duration_s=60, seed=4, lanes=2))
    assert result.duration_s == 60 and result.frames == 6000
    assert 10 <= len(result.vehicles) <= 40
    assert max(v.t_s for v in result.vehicles) < 60


def test_bad_options_are_user_errors() -> None:
    with pytest.raises(ConfigError, match="lanes"):
        SimOptions(lanes=3)
    with pytest.raises(ConfigError, match="speed"):
        SimOptions(speed_kmh=(80, 30))


def test_cli_writes_scenario_and_prints_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sim"
    assert main(["simulate", "--out", str(out), "--vehicles", "3", "--seed", "2"]) == 0
    line = capsys.readouterr().out.strip()
    assert "3 vehicles" in line and "\n" not in line
    assert len((out / "truth.jsonl").read_text().splitlines()) == 3
    assert main(["simulate", "--out", str(out), "--speed-min", "90", "--speed-max", "30"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edge simulate: error:") and "speed" in err


def test_acceleration_changes_speed_between_rows(tmp_path: Path) -> None:
    options = clean(vehicles=1, lanes=1, speed_kmh=(30, 30), dynamic_max=0, accel_max_mps2=1.0)
    (veh,) = generate(tmp_path, options).vehicles
    assert abs(veh.accel_mps2) > 0.05
    kg = channel_kg(tmp_path)
    kg -= np.median(kg[:2000], axis=0)
    area = kg[:, :4].sum(axis=0) / 2000.0
    for row, row_m in ((0, 0.0), (1, 3.0)):
        expected = sum(
            load * LP / veh.speed_at(off + row_m + LP / 2)
            for load, off in zip(veh.body.loads_kg, veh.offsets_m, strict=True)
        )
        assert area[2 * row] + area[2 * row + 1] == pytest.approx(expected, rel=0.005)


def test_site_geometry_comes_from_the_site_file(tmp_path: Path) -> None:
    text = (Path(__file__).parent.parent / "config/reference-site.yaml").read_text()
    site = tmp_path / "site-4m.yaml"
    site.write_text(text.replace("row_spacing_m: 3.0", "row_spacing_m: 4.0"))
    out = tmp_path / "sim"
    options = clean(vehicles=1, lanes=1, speed_kmh=(40, 40), dynamic_max=0, site=site)
    (veh,) = generate(out, options).vehicles
    assert "row_spacing_m: 4.0" in (out / "site.yaml").read_text()
    kg = channel_kg(out)
    kg -= np.median(kg[:2000], axis=0)
    t = np.arange(len(kg)) / 2000.0
    centroid = (kg[:, :4] * t[:, None]).sum(axis=0) / kg[:, :4].sum(axis=0)
    assert centroid[2] - centroid[0] == pytest.approx(4.0 / veh.speed_mps, rel=0.01)


def test_board_clock_rate_error_shows_against_host_time(tmp_path: Path) -> None:
    last: list[int] = []
    for ppm in (0.0, 500.0):
        generate(tmp_path / str(ppm), clean(duration_s=20, vehicles=0, clock_ppm=ppm))
        with ScapReader(tmp_path / str(ppm) / "wim0.scap") as reader:
            last.append(list(reader)[-1].t_ns)
    # 20 s of board time last 10 ms longer on the host clock (+- the USB latency)
    assert (last[1] - last[0]) * 1e-6 == pytest.approx(10.0, abs=3.0)


def test_full_scale_clips_and_sets_the_overrange_flag(tmp_path: Path) -> None:
    text = (Path(__file__).parent.parent / "config/reference-site.yaml").read_text()
    site = tmp_path / "sensitive.yaml"
    site.write_text(text.replace("kg_per_count: 0.02", "kg_per_count: 0.0001"))  # 838 kg full scale
    out = tmp_path / "sim"
    result = generate(out, clean(vehicles=4, lanes=1, seed=2, site=site))
    assert any(v.body.kind.truck for v in result.vehicles)
    frames, _ = decode_all(read_stream(out))
    flagged = [f for f in frames if f.flags & 1]
    assert len(flagged) == result.overrange_frames > 0
    assert all(int(f.samples.max()) == 8_388_607 for f in flagged)
    assert all(int(f.samples.max()) < 8_388_607 for f in frames if not f.flags & 1)


def test_stream_parser_recovers_every_undamaged_frame(tmp_path: Path) -> None:
    from edge.wim.protocols.lcs1_stream import Lcs1StreamParser

    options = SimOptions(vehicles=2, lanes=1, line_noise=0.02, lost_frames=0.005, seed=8)
    result = generate(tmp_path, options)
    parser = Lcs1StreamParser()
    frames = 0
    with ScapReader(tmp_path / "wim0.scap") as reader:
        for chunk in reader:
            frames += len(parser.feed(chunk.data))
    frames += len(parser.flush())
    assert result.frames_damaged > 0 and result.frames_lost > 0 and result.garbage_bursts > 0
    assert frames == result.frames - result.frames_lost - result.frames_damaged
    assert parser.stats().bytes == result.bytes


def test_packaged_site_is_the_reference_site() -> None:
    shipped = Path(__file__).parent.parent / "config/reference-site.yaml"
    packaged = Path(__file__).parent.parent / "edge/sim/reference-site.yaml"
    assert packaged.read_text() == shipped.read_text()  # keep the copy in step with config/
