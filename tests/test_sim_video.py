"""`edge simulate --video`: a camera video whose plates are the ones truth.jsonl names, read back
through `edge replay` into the vehicle records; a covered plate stays null, and the company
name painted on a truck is never taken for a plate."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import cv2
import pytest
import yaml

from edge.cli.main import main
from edge.errors import ConfigError
from edge.records.jws import decode_compact
from edge.sim import SimOptions, generate
from edge.vision.plates.formats import region
from tests.conftest import REFERENCE_SITE

SIZE = (960, 540)
# seed 8: six vehicles, one plate covered, two trucks with a painted company name
OPTIONS = SimOptions(
    vehicles=6,
    lanes=1,
    seed=8,
    include_video=True,
    video_size=SIZE,
    covered_plates=0.2,
    speed_kmh=(30, 80),
)


def _truth(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / "truth.jsonl").read_text(encoding="utf-8").splitlines()
    vehicles = (t for t in map(json.loads, lines) if t["kind"] == "vehicle")
    return sorted(vehicles, key=lambda t: t["t_ns"])


def _video_frames(path: Path) -> tuple[int, tuple[int, ...]]:
    """Frames a decoder gets out of the video, and their shape."""
    cap = cv2.VideoCapture(str(path))
    n, shape = 0, ()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        n, shape = n + 1, frame.shape
    cap.release()
    return n, shape


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("simvideo")
    generate(folder, OPTIONS)
    return folder


def test_video_and_frames_file_agree(scenario: Path) -> None:
    manifest = yaml.safe_load((scenario / "scenario.yaml").read_text(encoding="utf-8"))
    cam = manifest["cameras"]["lane1_front"]
    assert cam["file"] == "lane1_front.mp4" and cam["frames"] == "lane1_front.frames.csv"
    with (scenario / cam["frames"]).open(encoding="ascii") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["frame", "t_ns"]
    times = [int(t) for _, t in rows[1:]]
    assert [int(i) for i, _ in rows[1:]] == list(range(len(times)))
    assert times[0] == 0 and times[1] == 100_000_000  # 10 fps
    sim = json.loads((scenario / "sim.json").read_text(encoding="utf-8"))
    assert times[-1] / 1e9 >= sim["duration_s"] - 0.1  # the video covers the whole scenario
    frames, shape = _video_frames(scenario / cam["file"])
    assert frames == len(times)
    assert shape == (SIZE[1], SIZE[0], 3)


def test_truth_plates_are_valid_unique_and_covered_is_null(scenario: Path) -> None:
    truth = _truth(scenario)
    cn = region("cn")
    plates = [t["plate"] for t in truth if t["plate"] is not None]
    assert len(plates) == 5 and len(set(plates)) == 5
    for t in truth:
        if t["plate"] is None:
            assert t["plate_color"] is None
            continue
        template = cn.match(t["plate"])
        assert template is not None, t["plate"]
        assert template.colors is None or t["plate_color"] in template.colors
    sim = json.loads((scenario / "sim.json").read_text(encoding="utf-8"))
    painted = sim["cameras"]["lane1_front"]["painted"]
    assert painted, "the scenario needs a truck with a painted name"
    assert all(cn.match(p["text"]) is None for p in painted)


def test_same_seed_gives_the_same_video(tmp_path: Path) -> None:
    small = SimOptions(vehicles=2, lanes=1, seed=4, include_video=True, video_size=(320, 240))
    digests = []
    for name in ("a", "b"):
        generate(tmp_path / name, small)
        files = ("lane1_front.mp4", "lane1_front.frames.csv", "truth.jsonl")
        digests.append([hashlib.sha256((tmp_path / name / f).read_bytes()).digest() for f in files])
    assert digests[0] == digests[1]


def test_video_needs_a_camera(tmp_path: Path) -> None:
    site = yaml.safe_load(REFERENCE_SITE.read_text(encoding="utf-8"))
    site.pop("cameras", None)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="no cameras"):
        generate(tmp_path / "out", SimOptions(vehicles=1, include_video=True, site=path))


def test_cli_video_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scn"
    args = ["simulate", "--out", str(out), "--vehicles", "1", "--lanes", "1", "--video"]
    assert main([*args, "--video-size", "320x240", "--fps", "5"]) == 0
    assert "with video" in capsys.readouterr().out
    assert _video_frames(out / "lane1_front.mp4")[1] == (240, 320, 3)
    rows = (out / "lane1_front.frames.csv").read_text(encoding="ascii").splitlines()
    assert rows[2] == "1,200000000"  # 5 fps
    assert main([*args, "--video-size", "321x240"]) == 2  # odd sizes: the encoder refuses them


def _records(out: Path) -> list[dict[str, Any]]:
    lines = (out / "records.jws").read_text(encoding="ascii").splitlines()
    return [json.loads(decode_compact(line).payload) for line in lines]


@pytest.mark.slow
def test_replay_puts_the_true_plates_into_the_records(scenario: Path, tmp_path: Path) -> None:
    # the generated site reads plates (region cn) with the default models
    assert "plates:" in (scenario / "site.yaml").read_text(encoding="utf-8")
    out = tmp_path / "out"
    assert main(["replay", str(scenario), "--out", str(out)]) == 0
    truth = _truth(scenario)
    vehicles = sorted((r for r in _records(out) if r["type"] == "vehicle"), key=lambda r: r["time"])
    assert len(vehicles) == len(truth)
    pairs = [
        (t["plate"], v["plate"]["text"] if v["plate"] else None)
        for t, v in zip(truth, vehicles, strict=True)
    ]
    wrong = [(want, got) for want, got in pairs if got is not None and got != want]
    assert wrong == []  # never a wrong plate: not a neighbour's, not a painted name, no guess
    assert [got for want, got in pairs if want is None] == [None]  # the covered plate
    assert sum(1 for want, got in pairs if want is not None and got == want) >= 4
